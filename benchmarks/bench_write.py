"""Benchmark: ``tfclaims.core.write.write_xlsx`` and ``write_csv`` on a 100k-row x 8-column frame.

    .venv/bin/python benchmarks/bench_write.py                      # the current tfclaims.core.write
    .venv/bin/python benchmarks/bench_write.py --rows 1000000 --no-xlsx
    git show <commit>:tfclaims/write.py > /tmp/old_write.py          # an earlier version, to compare
    .venv/bin/python benchmarks/bench_write.py --write-module /tmp/old_write.py

The frame has what outputs carry: string IDs with leading zeros, free text (some of it starting with
``=`` or ``-``, some with commas and quotes), two date columns with gaps, a nullable integer, an
integer, a boolean. Each writer runs ``--repeat`` times into a fresh folder; the median is printed
with the file size.
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


def make_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["claim", "no claim", "=SUM(A1)", "-not met", "met, partly", 'said "yes"', "attendance", "crime_asb"])
    start = np.datetime64("2015-01-01")
    event = start + rng.integers(0, 3000, rows).astype("timedelta64[D]")
    end = (event + rng.integers(0, 400, rows).astype("timedelta64[D]")).astype("datetime64[ns]")
    end[rng.random(rows) < 0.2] = np.datetime64("NaT")
    source_row = pd.array(rng.integers(2, 60000, rows), dtype="Int64")
    source_row[rng.random(rows) < 0.1] = pd.NA
    return pd.DataFrame(
        {
            "family_id": pd.Series(np.char.zfill(np.arange(rows).astype(str), 7), dtype="str"),
            "person_id": pd.Series(np.char.add("P", np.char.zfill(rng.integers(0, 10 * rows, rows).astype(str), 8)), dtype="str"),
            "detail": pd.Series(words[rng.integers(0, len(words), rows)], dtype="str"),
            "event_date": pd.Series(event.astype("datetime64[ns]")),
            "closed_on": pd.Series(end),
            "source_row": source_row,
            "amount_pence": rng.integers(0, 200_000, rows),
            "eligible": rng.random(rows) < 0.5,
        }
    )


def load_write_module(path: str | None) -> ModuleType:
    if path is None:
        import tfclaims.core.write

        return tfclaims.core.write
    spec = importlib.util.spec_from_file_location("bench_write_module", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-module", help="a write.py to time instead of tfclaims.core.write (e.g. an older version)")
    ap.add_argument("--no-xlsx", action="store_true")
    args = ap.parse_args()
    write = load_write_module(args.write_module)
    df = make_frame(args.rows)
    result: dict[str, object] = {"rows": args.rows, "columns": len(df.columns), "module": args.write_module or "tfclaims.core.write"}
    with tempfile.TemporaryDirectory(prefix="bench-write-") as d:
        out = Path(d)
        median, runs = timed(lambda: write.write_csv(df, out / "out.csv"), args.repeat)
        result["csv_s"] = round(median, 3)
        result["csv_runs_s"] = [round(r, 3) for r in runs]
        result["csv_mb"] = round((out / "out.csv").stat().st_size / 1e6, 1)
        if not args.no_xlsx:
            median, runs = timed(lambda: write.write_xlsx({"Evidence": df}, out / "out.xlsx", notes={"Evidence": ["A note."]}), args.repeat)
            result["xlsx_s"] = round(median, 3)
            result["xlsx_runs_s"] = [round(r, 3) for r in runs]
            result["xlsx_cells_per_s"] = round(df.size / median)
            result["xlsx_mb"] = round((out / "out.xlsx").stat().st_size / 1e6, 1)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
