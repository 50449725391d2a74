"""Benchmark: read + validate a synthetic cohort, against the floor of just reading the same files.

    .venv/bin/python benchmarks/bench_ingest.py --families 300000 --repeat 3            # ~1M people, CSV
    .venv/bin/python benchmarks/bench_ingest.py --families 30000 --xlsx --repeat 3      # ~100k people, xlsx

The cohort is made once with ``tfclaims.synth.generate`` (seed 1, 1% injected errors) under
``benchmarks/out/``. Each repeat runs in a fresh process (so peak RSS is per run):
- ``floor``: the readers only (``tfclaims.ingest.readers.read_cohort``: every cell as text, lineage);
- ``ingest``: read + type + validate every table + quarantine (``tfclaims.ingest.validate.ingest``).
Prints the median wall time of each, the ratio, and each run's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
t0 = time.perf_counter()
if mode == "floor":
    from tfclaims.ingest.validate import contract_columns
    from tfclaims.ingest.readers import read_cohort
    raw = read_cohort(path, contract_columns())
    rows = sum(len(p.frame) for p in raw.parts)
    quarantined = None
else:
    from tfclaims.ingest.validate import ingest
    r = ingest(path)
    rows = sum(c.read for c in r.counts)
    quarantined = r.quarantined_rows
    assert all(c.read == c.accepted + c.quarantined for c in r.counts)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "rows": rows, "quarantined": quarantined,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_cohort(families: int, xlsx: bool) -> Path:
    out = HERE / "out" / f"cohort-{families}{'-xlsx' if xlsx else ''}"
    target = out / "cohort.xlsx" if xlsx else out
    if not (out / "people.csv").exists() and not (out / "cohort.xlsx").exists():
        from tfclaims.synth.generate import generate_cohort, write_cohort

        t0 = time.perf_counter()
        write_cohort(generate_cohort(families, seed=1, error_rate=0.01), out, xlsx=xlsx)
        print(f"made cohort in {time.perf_counter() - t0:.1f} s: {out}", file=sys.stderr)
    return target


def run(mode: str, path: Path) -> dict:
    # imports are part of neither figure: measure in-process time; RSS is the child's own
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=300_000)
    ap.add_argument("--xlsx", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = make_cohort(args.families, args.xlsx)
    results = {m: [run(m, path) for _ in range(args.repeat)] for m in ("floor", "ingest")}
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items()}
    report = {
        "cohort": str(path),
        "rows": results["ingest"][0]["rows"],
        "quarantined": results["ingest"][0]["quarantined"],
        "floor_seconds": [round(r["seconds"], 2) for r in results["floor"]],
        "ingest_seconds": [round(r["seconds"], 2) for r in results["ingest"]],
        "floor_median_s": round(med["floor"], 2),
        "ingest_median_s": round(med["ingest"], 2),
        "ratio_ingest_to_floor": round(med["ingest"] / med["floor"], 2),
        "ingest_peak_rss_mb": [round(r["peak_rss_mb"]) for r in results["ingest"]],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
