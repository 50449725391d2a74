"""Benchmark: ``tfclaims run`` end to end (ingest -> link -> identify -> track -> claim -> spot-check).

    .venv/bin/python benchmarks/bench_pipeline.py --families 300000 --repeat 3            # ~1M people
    .venv/bin/python benchmarks/bench_pipeline.py --families 300000 --repeat 3 --prefect  # under Prefect

Each repeat is a fresh ``tfclaims run`` process on the same synthetic CSV cohort (made once by
``benchmarks/bench_ingest.py``'s helper) with a fresh ledger, timed from outside (wall, including
Python start-up, imports and, with --prefect, Prefect's temporary server, whose database under
``benchmarks/out/prefect-home`` is created by the first run and reused, as a clone's ``.prefect/`` is)
with peak RSS from ``getrusage`` of the child. The stage times inside a run come from the run's own progress log.
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


def one_run(cohort: Path, prefect: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="tfclaims-bench-"))
    # one Prefect home for all runs, as a user's clone keeps .prefect/: the first run creates its database
    env = {**os.environ, "TFCLAIMS_REFERENCE_KEY": "benchmark-key", "TFCLAIMS_ORCHESTRATOR": "prefect" if prefect else "none",
           "PREFECT_HOME": str(HERE / "out" / "prefect-home"), "TFCLAIMS_HOME": str(HERE.parent)}
    cmd = [sys.executable, "-c", COMMAND,
           "run", "--input", str(cohort), "--period-end", "2020-03-31", "--out", str(work / "out"),
           "--ledger", str(work / "ledger.sqlite"), "--audit", str(work / "audit.jsonl"), "--seed", "1"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rss = peak_rss_mb(proc.stderr)
    summary = json.loads((work / "out" / "run_summary.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    return {"wall_s": wall, "peak_rss_mb": rss, "claims": summary["claims"],
            "rows": sum(t["read"] for t in summary["tables"].values()), "stages": stage_seconds(proc.stderr)}


def stage_seconds(log: str) -> dict[str, float]:
    """The run's own stage times from its progress lines ("validate people: done in 1.2 s"), grouped
    as the targets name them: ingest (read + validate), link, identify + track."""
    done = [(m.group(1), float(m.group(2))) for m in re.finditer(r"^\S+ (.+?): done in ([0-9.]+) s", log, flags=re.M)]
    groups = {"ingest": ("read cohort", "validate "), "link": ("link",), "identify + track": ("track", "identify")}
    return {g: round(sum(sec for name, sec in done if name.startswith(prefixes)), 1) for g, prefixes in groups.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prefect", action="store_true")
    args = ap.parse_args()
    cohort = make_cohort(args.families, xlsx=False)
    runs = [one_run(cohort, args.prefect) for _ in range(args.repeat)]
    print(json.dumps({
        "cohort": str(cohort), "prefect": args.prefect, "rows": runs[0]["rows"], "claims": runs[0]["claims"],
        "wall_s": [round(r["wall_s"], 1) for r in runs], "median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 1),
        "peak_rss_mb": [round(r["peak_rss_mb"]) for r in runs],
        "median_stage_s": {g: statistics.median(r["stages"][g] for r in runs) for g in runs[0]["stages"]},
        "stage_s": [r["stages"] for r in runs],
    }, indent=2))


if __name__ == "__main__":
    main()
