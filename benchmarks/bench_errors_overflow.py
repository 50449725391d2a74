"""Check at real size: more quarantined rows than an Excel sheet holds.

    .venv/bin/python benchmarks/bench_errors_overflow.py                 # 1,048,600 error rows
    .venv/bin/python benchmarks/bench_errors_overflow.py --rows 1200000

Writes a ``validation_errors``-shaped frame as ``validation_errors.csv`` then ``validation_errors.xlsx``
(``tfclaims.core.write``, as the pipeline does), then checks with python-calamine that the workbook's
sheet is exactly Excel's 1,048,576 rows with the note saying how many rows are left out, that the CSV
has every row, and that no temporary file is left. Prints the times and the checks as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tfclaims.core.write import EXCEL_MAX_ROWS, write_csv, write_xlsx


def errors_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "table": pd.Series(np.where(rng.random(rows) < 0.5, "school_attendance", "people"), dtype="str"),
        "file": pd.Series(["school_attendance.csv"] * rows, dtype="str"),
        "sheet": pd.Series([None] * rows, dtype="str"),
        "row": pd.array(np.arange(2, rows + 2), dtype="Int64"),
        "column": pd.Series(["sessions_possible"] * rows, dtype="str"),
        "value": pd.Series(rng.integers(-5, 0, rows).astype(str), dtype="str"),
        "check": pd.Series(["not_negative"] * rows, dtype="str"),
        "message": pd.Series(["must be 0 or more"] * rows, dtype="str"),
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=EXCEL_MAX_ROWS + 24)
    args = ap.parse_args()
    from python_calamine import CalamineWorkbook

    frame = errors_frame(args.rows)
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent / "out" if (Path(__file__).resolve().parent / "out").is_dir() else None) as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        write_csv(frame, out / "validation_errors.csv")
        t1 = time.perf_counter()
        write_xlsx({"Errors": frame, "Counts": frame.head(3)}, out / "validation_errors.xlsx",
                   notes={"Errors": ["Rows left out of this run."]})
        t2 = time.perf_counter()
        sheet = CalamineWorkbook.from_path(str(out / "validation_errors.xlsx")).get_sheet_by_name("Errors").to_python(skip_empty_area=False)
        csv_rows = sum(1 for _ in open(out / "validation_errors.csv", encoding="utf-8")) - 1
        leftovers = sorted(p.name for p in out.iterdir() if p.name not in ("validation_errors.csv", "validation_errors.xlsx"))
        shown = len(sheet) - 4  # two notes, a blank line, the header
        report = {
            "error_rows": args.rows,
            "csv_seconds": round(t1 - t0, 1),
            "xlsx_seconds": round(t2 - t1, 1),
            "sheet_rows": len(sheet),
            "rows_shown": shown,
            "note": sheet[1][0],
            "last_row_shown": sheet[-1][3],
            "csv_rows": csv_rows,
            "temporary_files_left": leftovers,
        }
        print(json.dumps(report, indent=2))
        assert len(sheet) == EXCEL_MAX_ROWS and csv_rows == args.rows and not leftovers
        assert f"so {args.rows - shown:,} rows are left out here. validation_errors.csv has every row." in sheet[1][0]
        assert int(sheet[-1][3]) == shown + 1  # rows 2 .. shown + 1, in order


if __name__ == "__main__":
    main()
