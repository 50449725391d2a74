"""Fuzz the readers: many generated CSV (and some xlsx) tables through reading and validation, in-process.

    .venv/bin/python benchmarks/fuzz_readers.py --inputs 100000 --workers 2
    .venv/bin/python benchmarks/fuzz_readers.py --seed 4711 --inputs 1      # replay one input

Input ``i`` is made by ``tests/fuzz_inputs.py`` from ``random.Random(i)`` (CSV) or
``random.Random(-i)`` (xlsx), so a printed seed reproduces it. Every input must end in rows
processed or quarantined with counts that reconcile, or an ``InputError`` with a message; anything
else is a failure, printed with its seed and traceback. CSV inputs are read one file at a time and
validated a chunk at a time (each table's files together, as a table split over files is); a chunk
that fails is replayed input by input to name the seed. Every ``--ingest-every``-th CSV input also
goes through ``ingest`` whole (its people table fuzzed, beside a fuzzed event table). Prints the
outcome classes (InputError messages with numbers and quoted names blanked) and a JSON summary.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _class_of(message: str) -> str:
    text = message.split(": ", 1)[1] if ": " in message else message
    return re.sub(r"'[^']*'", "'…'", re.sub(r"\d+", "N", text))[:80]


def _ingest_whole(folder: Path, rng: random.Random) -> str:
    """people + one event table, both fuzzed, through ``ingest``: counts reconcile, or an InputError."""
    from fuzz_inputs import SECRET, random_table

    from tfclaims.core.errors import InputError
    from tfclaims.ingest.validate import ingest

    cohort = folder / "cohort"
    cohort.mkdir(exist_ok=True)
    for p in cohort.iterdir():
        p.unlink()
    for table in ("people", rng.choice(["needs", "programme", "school_attendance", "employment", "housing"])):
        _, data = random_table(rng, table)
        (cohort / f"{table}.csv").write_bytes(data)
    try:
        r = ingest(cohort)
    except InputError as exc:
        assert str(exc).strip() and SECRET not in str(exc), str(exc)
        return "ingest input_error: " + _class_of(str(exc))
    for c in r.counts:
        assert c.read == c.accepted + c.quarantined, c
        assert len(r.cohort[c.table]) == c.accepted, c
        assert r.errors[r.errors["table"] == c.table]["row"].nunique() == c.quarantined, c
    return "ingest " + ("quarantined" if r.quarantined_rows else "accepted")


def _xlsx_input(folder: Path, rng: random.Random) -> str:
    import xlsxwriter
    from fuzz_inputs import COLUMNS, SECRET, SPECS, random_workbook_rows

    from tfclaims.core.errors import InputError
    from tfclaims.ingest.readers import read_cohort
    from tfclaims.ingest.validate import check_part, validate_table

    table, rows = random_workbook_rows(rng)
    path = folder / "cohort.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    ws = book.add_worksheet(table)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            try:
                ws.write(i, j, v)
            except Exception:  # noqa: BLE001 - a cell xlsxwriter refuses (NaN, inf) is left blank
                pass
    book.close()
    try:
        raw = read_cohort(path, COLUMNS)
        outcomes = []
        for part in raw.parts:
            check_part(part, SPECS[part.table])
            _, errors, count = validate_table(part.table, [part], SPECS[part.table])
            assert count.read == count.accepted + count.quarantined == len(part.frame), count
            assert errors["row"].nunique() == count.quarantined
            outcomes.append("quarantined" if count.quarantined else "accepted")
    except InputError as exc:
        assert str(exc).strip() and SECRET not in str(exc), str(exc)
        return "xlsx input_error: " + _class_of(str(exc))
    return "xlsx " + ("quarantined" if "quarantined" in outcomes else "accepted")


def _replay(folder: Path, seeds: list[int], failures: list[tuple[int, str]]) -> None:
    """Inputs of a batch that failed as a whole, one by one, to name the seed(s) at fault."""
    from fuzz_inputs import check_table, random_table

    for seed in seeds:
        try:
            check_table(folder, *random_table(random.Random(seed)))
        except Exception:  # noqa: BLE001
            failures.append((seed, traceback.format_exc(limit=-6)))


def run_chunk(seeds: list[int], ingest_every: int) -> tuple[collections.Counter, list[tuple[int, str]]]:
    from fuzz_inputs import check_tables, random_table

    folder = Path(tempfile.mkdtemp(prefix="tfclaims-fuzz-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    counts: collections.Counter = collections.Counter()
    failures: list[tuple[int, str]] = []
    csv_seeds = [s for s in seeds if s >= 0]
    try:
        outcomes = check_tables(folder, [(s, *random_table(random.Random(s))) for s in csv_seeds])
        for o in outcomes.values():
            counts["csv " + (o.kind if o.kind != "input_error" else "input_error: " + _class_of(o.detail))] += 1
    except Exception:  # noqa: BLE001 - replayed one by one to find the input
        _replay(folder, csv_seeds, failures)
        counts["FAILURE (batch)"] += 1
    for seed in seeds:
        try:
            if seed < 0:
                counts[_xlsx_input(folder, random.Random(seed))] += 1
            elif ingest_every and seed % ingest_every == 0:
                counts[_ingest_whole(folder, random.Random(seed))] += 1
        except Exception:  # noqa: BLE001 - every other exception is a failure, kept with its seed
            failures.append((seed, traceback.format_exc(limit=-6)))
            counts["FAILURE"] += 1
    shutil.rmtree(folder, ignore_errors=True)
    return counts, failures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=100_000, help="CSV inputs")
    ap.add_argument("--xlsx", type=int, default=2_000, help="xlsx inputs")
    ap.add_argument("--seed", type=int, default=0, help="the first seed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ingest-every", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=500)
    args = ap.parse_args()
    seeds = list(range(args.seed, args.seed + args.inputs)) + [-(i + 1) for i in range(args.xlsx)]
    chunks = [seeds[i : i + args.chunk] for i in range(0, len(seeds), args.chunk)]
    t0 = time.perf_counter()
    total: collections.Counter = collections.Counter()
    failures: list[tuple[int, str]] = []
    done = 0
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for counts, fails in pool.map(run_chunk, chunks, [args.ingest_every] * len(chunks)):
            total += counts
            failures += fails
            done += 1
            for seed, tb in fails:
                print(f"FAILURE seed {seed}:\n{tb}", file=sys.stderr, flush=True)
            if done % 20 == 0:
                print(f"{done}/{len(chunks)} chunks, {time.perf_counter() - t0:.0f} s, failures {len(failures)}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t0
    for key, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:8d}  {key}")
    print(json.dumps({
        "csv_inputs": args.inputs, "xlsx_inputs": args.xlsx, "ingest_runs": sum(n for k, n in total.items() if k.startswith("ingest")),
        "failures": len(failures), "failure_seeds": [s for s, _ in failures][:50], "seconds": round(elapsed, 1),
        "by_outcome": {
            "csv accepted": total["csv accepted"], "csv quarantined": total["csv quarantined"],
            "csv input_error": sum(n for k, n in total.items() if k.startswith("csv input_error")),
            "xlsx": sum(n for k, n in total.items() if k.startswith("xlsx")),
        },
    }, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
