"""Benchmark: ``tfclaims forecast`` over 12 months against one ``tfclaims claim --dry-run`` on the same cohort.

    .venv/bin/python benchmarks/bench_forecast.py --families 30000 --repeat 3     # about 100k people

The target (issue 16): a forecast of a 100k-person cohort over a 12-month horizon takes no more than
three times a single claim run on it. Each repeat runs, in fresh processes and interleaved (so load
drifts hit all three alike): the floor (``tfclaims validate``: read, type and validate the cohort,
which both commands do first), one claim dry run at the as-of date, and the forecast from it over 12
months (13 claim decisions: the as-of date and 12 month ends). Wall time from outside (Python
start-up and imports included), peak RSS from ``getrusage`` of the child; medians of the repeats.
The cohort is made once by ``benchmarks/bench_ingest.py``'s helper (seed 1, 1% injected errors).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ingest import make_cohort  # noqa: E402
from tfclaims_child import COMMAND, peak_rss_mb  # noqa: E402

AS_OF = "2020-03-31"


def workspace() -> Path:
    """A workspace for the benchmark's audit records (under benchmarks/out/, git-ignored)."""
    from tfclaims.core.workspace import init_workspace

    root = HERE / "out" / "workspace"
    if not (root / "tfclaims.toml").exists():
        init_workspace(root)
    return root


def one(kind: str, cohort: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="tfclaims-bench-forecast-"))
    env = {**os.environ, "TFCLAIMS_REFERENCE_KEY": "benchmark-key", "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_HOME": str(workspace())}
    args = {
        "floor": ["validate", "--input", str(cohort), "--out", str(work / "out")],
        "claim": ["claim", "--input", str(cohort), "--period-end", AS_OF, "--dry-run", "--ledger", str(work / "ledger.sqlite"),
                  "--out", str(work / "out")],
        "forecast": ["forecast", "--input", str(cohort), "--as-of", AS_OF, "--horizon", "12", "--ledger", str(work / "ledger.sqlite"),
                     "--out", str(work / "out")],
    }[kind]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", COMMAND, *args], env=env, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rss = peak_rss_mb(proc.stderr)
    months = [float(m) for m in re.findall(r"claim decisions at \S+: done in ([0-9.]+) s", proc.stderr)]
    summary = json.loads((work / "out" / "run_summary.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    out = {"wall_s": wall, "peak_rss_mb": rss, "people": summary["tables"]["people"]["accepted"]}
    if months:
        out["decisions_s"] = sum(months)
        out["dates"] = len(months)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cohort = make_cohort(args.families, xlsx=False)
    runs: dict[str, list[dict]] = {"floor": [], "claim": [], "forecast": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(one(kind, cohort))
    med = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
    print(json.dumps({
        "cohort": str(cohort), "people": runs["claim"][0]["people"], "as_of": AS_OF, "horizon_months": 12,
        **{f"{k}_wall_s": [round(r["wall_s"], 1) for r in v] for k, v in runs.items()},
        **{f"median_{k}_s": round(m, 1) for k, m in med.items()},
        **{f"{k}_peak_rss_mb": [round(r["peak_rss_mb"]) for r in v] for k, v in runs.items()},
        "forecast_dates": runs["forecast"][0].get("dates"),
        "forecast_claim_decisions_s": [round(r["decisions_s"], 1) for r in runs["forecast"]],
        "forecast_over_claim": round(med["forecast"] / med["claim"], 2),
        "target": "forecast_over_claim <= 3.0",
    }, indent=2))


if __name__ == "__main__":
    main()
