"""The run report's own cost: its facts (counts from the claim's frames) and the page (its plots
inline SVG, written atomically), inside a claim dry run of a cohort, in a fresh process.

    python benchmarks/bench_report.py                       # the built-in sample cohort (the demo's)
    python benchmarks/bench_report.py --families 30000      # about 100k people
    python benchmarks/bench_report.py --families 300000     # about 1M people

Prints, per run: the facts' time, the page's time (first page in the process, and a second drawing of the same summary), the page's size, and the whole claim's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import datetime as dt, json, os, sys, tempfile, time
from pathlib import Path
os.environ["TFCLAIMS_ORCHESTRATOR"] = "none"
from tfclaims import pipeline, report
from tfclaims.core.config import CouncilConfig
from tfclaims.options import ClaimOptions

times = {"facts": 0.0, "page": 0.0}
facts_of, write_of = pipeline._claim_report_facts, report.write_report

def timed(name, fn):
    def inner(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            times[name] += time.perf_counter() - t
    return inner

pipeline._claim_report_facts = timed("facts", facts_of)
pipeline.run_report.write_report = timed("page", write_of)
from tfclaims.core.workspace import init_workspace
home = Path(tempfile.mkdtemp())
init_workspace(home)
os.environ["TFCLAIMS_HOME"] = str(home)  # a workspace of its own: its ledger, nothing of the caller's
out = home / "claim"
t = time.perf_counter()
s = pipeline.claim(ClaimOptions.of(input=Path(sys.argv[1]), out=out, audit=out.parent / "audit.jsonl", period_end=dt.date(2020, 3, 31),
                                   dry_run=True, council=CouncilConfig(reference_key="bench"))).summary
whole = time.perf_counter() - t
t = time.perf_counter()
report.build_report(s)
again = time.perf_counter() - t
print(json.dumps({"facts": times["facts"], "page_first": times["page"], "page_again": again, "whole": whole,
                  "bytes": (out / "report.html").stat().st_size, "families": s["report"]["funnel"]["register"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=0, help="a synthetic cohort of this many families (0: the sample cohort)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.families:
        from benchmarks.bench_ingest import make_cohort

        cohort = make_cohort(args.families, xlsx=False)
    else:
        from tfclaims.core.resources import SAMPLE_COHORT_DIR

        cohort = Path(str(SAMPLE_COHORT_DIR))
    runs = []
    for _ in range(args.repeat):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(cohort)], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in ("facts", "page_first", "page_again", "whole")}
    print(f"programme families {runs[0]['families']:,}; report {runs[0]['bytes'] / 1024:.0f} KB; medians of {len(runs)}: "
          f"facts {med['facts']:.3f} s, page {med['page_first']:.3f} s (first in the process), "
          f"{med['page_again']:.3f} s (again); whole claim {med['whole']:.1f} s")


if __name__ == "__main__":
    main()
