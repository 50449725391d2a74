"""Benchmark: the time a ``tfclaims run`` spends writing its outputs.

    .venv/bin/python benchmarks/bench_outputs.py --families 300000 --repeat 3   # ~1M people

Each repeat is a fresh ``tfclaims run`` process (plain Python, no Prefect) on the synthetic CSV
cohort of ``bench_ingest.py``, profiled with cProfile. From the profile it reports the cumulative
seconds of the routines that write files into the run folder:

- ``RunFiles._write``: every CSV, Parquet and JSON output and the finance summary (each hashed and
  recorded in the audit record as it is written);
- ``RunFiles.xlsx``: the workbooks for people written in the run's own process (small ones), and
  handing big ones to the helper process;
- ``RunFiles.wait``: waiting at the end for the helper process's workbooks;
- ``write_workbook``: the auditor's spot-check workbook;
- ``write_report``: the run report (``report.html``), when the installed version writes one.

Tables over 100,000 rows get no workbook (only their CSV), so at 1M people the helper process has
nothing to write: the figure to watch is ``RunFiles.wait``. cProfile adds its own overhead (the
wall time is longer than an unprofiled run's), so read the shares, not the absolute total.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ingest import make_cohort  # noqa: E402

WRITERS = {
    "csv, parquet, json, finance summary (RunFiles._write)": ("pipeline.py", "_write"),
    "workbooks in the run's process (RunFiles.xlsx)": ("pipeline.py", "xlsx"),
    "waiting for the workbook helper (RunFiles.wait)": ("pipeline.py", "wait"),
    "spot-check workbook (write_workbook)": ("workbook.py", "write_workbook"),
    "run report (write_report)": ("report.py", "write_report"),
}


def one_run(cohort: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="tfclaims-bench-"))
    prof = work / "run.prof"
    env = {**os.environ, "TFCLAIMS_REFERENCE_KEY": "benchmark-key", "TFCLAIMS_ORCHESTRATOR": "none"}
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "tfclaims",
           "run", "--input", str(cohort), "--period-end", "2020-03-31", "--out", str(work / "out"),
           "--ledger", str(work / "ledger.sqlite"), "--seed", "1"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    stats = pstats.Stats(str(prof)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = max(ct for (_f, _l, _n), (_cc, _nc, _tt, ct, _c) in stats.items())
    seconds = {}
    for label, (file, name) in WRITERS.items():
        seconds[label] = sum(ct for (f, _l, n), (_cc, _nc, _tt, ct, _c) in stats.items() if f.endswith(file) and n == name)
    summary = json.loads((work / "out" / "run_summary.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    return {"total_s": total, "seconds": seconds, "csv_only": summary.get("csv_only", []),
            "outputs": len(summary.get("outputs", []))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cohort = make_cohort(args.families, xlsx=False)
    runs = [one_run(cohort) for _ in range(args.repeat)]
    med = {label: round(statistics.median(r["seconds"][label] for r in runs), 2) for label in WRITERS}
    print(json.dumps({
        "cohort": str(cohort),
        "run_total_s (profiled)": [round(r["total_s"], 1) for r in runs],
        "median_s": med,
        "writing_outputs_median_s": round(statistics.median(sum(r["seconds"].values()) for r in runs), 2),
        "share_of_run": round(statistics.median(sum(r["seconds"].values()) / r["total_s"] for r in runs), 3),
        "outputs": runs[0]["outputs"],
        "csv_only": runs[0]["csv_only"],
    }, indent=2))


if __name__ == "__main__":
    main()
