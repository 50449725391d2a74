"""Benchmark: ``tfclaims.spot_check.write_workbook`` on a 1M-person-sized claim run.

    .venv/bin/python benchmarks/bench_spot_check.py                   # the current tfclaims.spot_check
    git show <commit>:tfclaims/spot_check.py > /tmp/old_spot_check.py  # an earlier version, to compare
    .venv/bin/python benchmarks/bench_spot_check.py --spot-check-module /tmp/old_spot_check.py

The claim run has ``--claims`` claims (default 24,975, what a 1M-person run claims), families with
leading-zero IDs, routes in realistic shares, some practitioner names that look like formulas; each
family has 5 eligibility and 6 outcome evidence rows and one claim decision (12 Evidence rows in the
workbook). The sample is drawn at ``--rate`` (default 0.10: ~2,500 claims). Only ``write_workbook``
is timed (``--repeat`` runs, median printed), with the workbook's size and cell count.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from openpyxl import load_workbook

RUN_ID = "20250331T120000Z-bench01"
ELIGIBILITY_ROWS = 5
OUTCOME_ROWS = 6
HEADLINES = np.array(["crime_asb", "education", "employment", "health", "domestic_abuse", "children_in_need"])


def make_claim_dir(root: Path, claims: int, seed: int = 1) -> Path:
    """The files the claim stage writes, vectorised (no per-row Python)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    fams = np.char.zfill(np.arange(1, claims + 1).astype(str), 7)
    refs = np.char.add("TFC-", np.char.zfill(np.arange(1, claims + 1).astype(str), 7))
    routes = rng.choice(["ssp", "continuous_employment", "sfo", "discretionary"], size=claims, p=[0.8, 0.158, 0.04, 0.002])
    names = np.array(["A. Practitioner", "B. Worker", "=HYPERLINK(\"http://x\",\"y\")", "-Dash Name", "C. Lead"])
    attached = np.datetime64("2021-04-01") + rng.integers(0, 900, claims).astype("timedelta64[D]")
    closed = (attached + rng.integers(100, 600, claims).astype("timedelta64[D]")).astype("datetime64[D]").astype(str)
    closed[rng.random(claims) < 0.3] = ""
    pd.DataFrame(
        {
            "claim_reference": refs,
            "family_id": fams,
            "family_reference": [f"{i:016x}" for i in rng.integers(0, 2**62, claims)],
            "framework": "tf-phase2",
            "route": routes,
            "period_end": "2025-03-31",
            "amount_pence": 80000,
            "run_id": RUN_ID,
            "attached_on": attached.astype(str),
            "closed_on": closed,
            "lead_practitioner": names[rng.integers(0, len(names), claims)],
            "headlines_at_attachment": "crime_asb;education;employment",
        }
    ).to_csv(root / "claim_register.csv", index=False)
    pd.DataFrame(
        {
            "family_id": fams,
            "period_end": "2025-03-31",
            "decision": "claim",
            "route": routes,
            "reason": "",
            "detail": np.where(routes == "discretionary", "manager approval by A. Manager", ""),
        }
    ).to_csv(root / "claim_decisions.csv", index=False)

    def evidence(per_family: int, indicator: str, start: str) -> pd.DataFrame:
        n = claims * per_family
        family = np.repeat(fams, per_family)
        return pd.DataFrame(
            {
                "family_id": family,
                "headline": HEADLINES[np.tile(np.arange(per_family), claims) % len(HEADLINES)],
                "person_id": np.char.add("P", np.char.zfill(rng.integers(0, 10 * n, n).astype(str), 9)),
                "indicator": indicator,
                "source_table": "school_attendance",
                "source_file": "school_attendance.csv",
                "source_row": np.arange(2, n + 2),
                "event_date": (np.datetime64(start) + rng.integers(0, 700, n).astype("timedelta64[D]")).astype(str),
            }
        )

    evidence(ELIGIBILITY_ROWS, "persistent_absence", "2020-01-01").to_csv(root / "eligibility_evidence.csv", index=False)
    evidence(OUTCOME_ROWS, "attendance_improved", "2023-01-01").to_csv(root / "outcome_evidence.csv", index=False)
    pd.DataFrame(
        {
            "family_id": np.repeat(fams, 3),
            "as_of": "2025-03-31",
            "headline": np.tile(HEADLINES[:3], claims),
            "status": "met",
            "detail": "",
        }
    ).to_csv(root / "outcomes.csv", index=False)
    (root / "run_summary.json").write_text(
        json.dumps(
            {
                "run_id": RUN_ID,
                "command": "claim",
                "framework": {"name": "tf-phase2", "version": "2015-v3", "sha256": "ab" * 32},
                "inputs": [{"path": "/data/cohort/people.csv", "sha256": "cd" * 32, "rows": 1_000_000}],
            }
        ),
        encoding="utf-8",
    )
    return root


def load_module(path: str | None) -> ModuleType:
    if path is None:
        import tfclaims.spot_check

        return tfclaims.spot_check
    spec = importlib.util.spec_from_file_location("bench_spot_check_module", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=24_975)
    ap.add_argument("--rate", type=float, default=0.10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--spot-check-module", help="a spot_check.py to time instead of tfclaims.spot_check")
    args = ap.parse_args()
    spot = load_module(args.spot_check_module)
    result: dict[str, object] = {"claims": args.claims, "module": args.spot_check_module or "tfclaims.spot_check"}
    with tempfile.TemporaryDirectory(prefix="bench-spot-check-") as d:
        root = Path(d)
        claim_dir = make_claim_dir(root / "claim", args.claims)
        t0 = time.perf_counter()
        claims = spot.load_claim_dir(claim_dir)
        result["load_claim_dir_s"] = round(time.perf_counter() - t0, 3)
        sample = spot.draw_sample(claims.register, args.rate, 5, seed=20250331)
        result["sampled_claims"] = sample.total
        runs = []
        for i in range(args.repeat):
            out = root / f"out{i}"
            t0 = time.perf_counter()
            path = spot.write_workbook(claims, sample, out)
            runs.append(time.perf_counter() - t0)
        result["write_workbook_s"] = round(statistics.median(runs), 3)
        result["write_workbook_runs_s"] = [round(r, 3) for r in runs]
        result["xlsx_mb"] = round(path.stat().st_size / 1e6, 2)
        result["evidence_rows"] = load_workbook(path, read_only=True)["Evidence"].max_row - 1  # less the header
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
