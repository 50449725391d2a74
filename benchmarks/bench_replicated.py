"""Benchmark: `tfclaims claim` and `tfclaims run` on a replicated cohort, against the read floor.

    .venv/bin/python benchmarks/bench_replicated.py --factor 1570 --repeat 3    # ~1.03M people
    .venv/bin/python benchmarks/bench_replicated.py --factor 153 --repeat 3     # ~100k people

The base is the built-in sample cohort (`data/sample`, 655 people, 98 families in the programme
register), as tfclaims accepts and links it: `tfclaims validate` writes the accepted, linked tables,
every event row carrying its `person_id`. Lineage and link columns are dropped, and so are the
identifiers a copy cannot share (UPN, NHS and NI numbers; names and dates of birth on event rows).
The base is then copied `--factor` times with new ids (`<id>-R<copy>` for every person and family
id), written as CSV under `benchmarks/out/replicated-<factor>/`. Every copy is the same families
with the same histories, so **every copy must get the same claim decision**; the script checks
that and fails otherwise.

Each repeat, in a fresh process, with a fresh ledger:
- `floor`: reading the same CSV files with Arrow (`pyarrow.csv.read_csv`, every column as text);
- `claim`: `tfclaims claim --period-end 2020-03-31` (plain Python, `TFCLAIMS_ORCHESTRATOR=none`);
- `run`: `tfclaims run --period-end 2020-03-31` (adds the spot check);
- with `--prefect-api URL`, also `claim@prefect`: the same claim as a Prefect flow against the
  running server at URL (start one with `tfclaims server`);
- with `--before PYTHON`, each command again with another installation's interpreter (say, main
  before a change, installed in a venv of its own), labelled `<command>@before`, interleaved with
  this one's; its claim decisions must be the same as this installation's.
Each command runs in a folder of its own (the repository is its workspace), so `--before` imports
its own tfclaims, never this checkout's.
Wall time from outside (Python start-up and imports included) and peak RSS of the child. Prints
medians and each command's ratio to the floor measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tfclaims_child import COMMAND, peak_rss_mb  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLE = ROOT / "data" / "sample"
PERIOD_END = "2020-03-31"
LINEAGE = ("source_file", "source_sheet", "source_row", "link_method", "link_probability")
NOT_SHARED = ("upn", "nhs_number", "ni_number")  # one person's numbers: a copy gets none
EVENT_REFERENCE = ("first_name", "last_name", "date_of_birth", "postcode")  # the person_id says who
ID_COLUMNS = ("person_id", "family_id")

FLOOR = r"""
import json, resource, sys, time
from pathlib import Path
import pyarrow.csv as pc
t0 = time.perf_counter()
rows = 0
for f in sorted(Path(sys.argv[1]).glob("*.csv")):
    names = pc.read_csv(f, read_options=pc.ReadOptions(block_size=1 << 24)).column_names
    t = pc.read_csv(f, convert_options=pc.ConvertOptions(column_types={n: "string" for n in names}))
    rows += t.num_rows
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

def base_cohort(work: Path) -> dict[str, pd.DataFrame]:
    """The sample cohort as tfclaims accepts and links it, every event row with its person_id."""
    out = work / "base-validate"
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_HOME": str(ROOT)}
    subprocess.run([sys.executable, "-m", "tfclaims", "validate", "--input", str(SAMPLE), "--out", str(out), "--audit", str(work / "audit.jsonl")],
                   env=env, check=True, capture_output=True, cwd=work)
    tables = {}
    for f in sorted((out / "accepted").glob("*.parquet")):
        df = pd.read_parquet(f)
        drop = [c for c in (*LINEAGE, *NOT_SHARED) if c in df.columns]
        if f.stem != "people":
            drop += [c for c in EVENT_REFERENCE if c in df.columns]
        tables[f.stem] = df.drop(columns=drop)
    return tables


def replicate(tables: dict[str, pd.DataFrame], factor: int) -> dict[str, pd.DataFrame]:
    """Each table ``factor`` times, copy k's person and family ids suffixed ``-R<k>`` (vectorised)."""
    out = {}
    for name, df in tables.items():
        copy = np.repeat(np.arange(factor), len(df))
        big = df.iloc[np.tile(np.arange(len(df)), factor)].reset_index(drop=True)
        suffix = pd.Series(np.char.add("-R", copy.astype("U6")), dtype="str")
        for c in ID_COLUMNS:
            if c in big.columns:
                big[c] = (big[c].astype("str") + suffix).where(big[c].notna(), None)
        out[name] = big
    return out


def make_cohort(factor: int) -> Path:
    folder = HERE / "out" / f"replicated-{factor}"
    if (folder / "people.csv").exists():
        return folder
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = base_cohort(Path(tmp))
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in replicate(base, factor).items():
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].dt.strftime("%Y-%m-%d")
        df.to_csv(folder / f"{name}.csv", index=False)
    print(f"made the replicated cohort ({factor} copies) in {time.perf_counter() - t0:.1f} s: {folder}", file=sys.stderr)
    return folder


def floor(cohort: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", FLOOR, str(cohort)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def command(label: str, cohort: Path, prefect_api: str | None = None, before: str | None = None) -> dict:
    name, _, how = label.partition("@")
    work = Path(tempfile.mkdtemp(prefix="tfclaims-bench-replicated-"))
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_REFERENCE_KEY": "benchmark-key", "TFCLAIMS_HOME": str(ROOT)}
    python = sys.executable
    if how == "before":
        if not before:
            raise SystemExit(f"{label}: give --before PYTHON (another installation's interpreter)")
        python, how = before, ""
    if how == "prefect":
        if not prefect_api:
            raise SystemExit(f"{label}: give --prefect-api URL (a running server: `tfclaims server`)")
        env.update({"TFCLAIMS_ORCHESTRATOR": "prefect", "PREFECT_API_URL": prefect_api})
    args = [name, "--input", str(cohort), "--period-end", PERIOD_END, "--out", str(work / "out"), "--ledger", str(work / "ledger.sqlite"),
            "--audit", str(work / "audit.jsonl")] + (["--seed", "1"] if name == "run" else [])
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", COMMAND, *args], env=env, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tfclaims {name} failed:\n{proc.stderr[-3000:]}")
    rss = peak_rss_mb(proc.stderr)
    decisions = pd.read_csv(work / "out" / "claim_decisions.csv", dtype="str", keep_default_na=False)
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": wall, "peak_rss_mb": rss, "decisions": decisions}


def check_copies(decisions: pd.DataFrame, factor: int) -> dict:
    """Every copy of a family got the same decision, reason and route; returns the counts."""
    base = decisions["family_id"].str.replace(r"-R\d+$", "", regex=True)
    key = decisions["decision"] + "|" + decisions["reason"] + "|" + decisions["route"]
    per_family = key.groupby(base).agg(["nunique", "size"])
    differing = per_family.index[per_family["nunique"] != 1].tolist()
    missing = per_family.index[per_family["size"] != factor].tolist()
    if differing or missing:
        raise SystemExit(f"copies differ: {len(differing)} families with more than one decision (e.g. {differing[:3]}), "
                         f"{len(missing)} without a decision in every copy (e.g. {missing[:3]})")
    return {"families": int(len(per_family)), "claims_per_copy": int((decisions["decision"] == "claim").sum() // factor)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--factor", type=int, default=1570)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--commands", default="claim,run", help="claim, run, claim@prefect (needs --prefect-api)")
    ap.add_argument("--prefect-api", default=None, help="a running Prefect server's API URL, for claim@prefect")
    ap.add_argument("--before", default=None, help="another installation's python: each command again as <command>@before")
    args = ap.parse_args()
    cohort = make_cohort(args.factor)
    people = sum(1 for _ in (cohort / "people.csv").open()) - 1
    names = args.commands.split(",")
    if args.before:
        names = [m for n in names for m in (f"{n}@before", n)]
    results: dict[str, list[dict]] = {"floor": [], **{n: [] for n in names}}
    copies: dict = {}
    last: dict[str, pd.DataFrame] = {}
    for _ in range(args.repeat):  # interleaved: the machine's load falls on each alike
        results["floor"].append(floor(cohort))
        for n in names:
            r = command(n, cohort, args.prefect_api, args.before)
            decisions = r.pop("decisions")
            copies[n] = check_copies(decisions, args.factor)
            key = n.replace("@before", "")
            if key in last and not decisions.equals(last[key]):
                raise SystemExit(f"{n}: claim decisions differ from the other installation's")
            last[key] = decisions
            results[n].append(r)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    print(json.dumps({
        "cohort": str(cohort), "factor": args.factor, "people": people, "rows": results["floor"][0]["rows"],
        "median_s": {k: round(v, 2) for k, v in med.items()},
        "ratio_to_floor": {n: round(med[n] / med["floor"], 1) for n in names},
        "runs_s": {k: [round(r["seconds"], 1) for r in v] for k, v in results.items()},
        "peak_rss_mb": {k: [round(r["peak_rss_mb"]) for r in v] for k, v in results.items()},
        "every_copy_the_same_decisions": copies,
        "load_average": os.getloadavg(),
    }, indent=2))


if __name__ == "__main__":
    main()
