"""Random CSV tables for fuzzing the readers, from a ``random.Random`` (so a seed, or hypothesis's
``st.randoms()``, reproduces an input), and the check every outcome must pass.

An input is one table's file: a header drawn from the table's contract columns (and some that are
not), rows of valid and hostile cells (Unicode of every kind, numbers Excel mangled, formulas,
quotes, line breaks), written as a spreadsheet would or broken (no quoting, another delimiter, a
title row, an unclosed quote, ragged rows, UTF-16, Latin-1, a byte-order mark, stray bytes).
Every outcome must be rows processed or quarantined with counts that reconcile, or an
``InputError`` with a message; a data cell's text (``SECRET`` marks some) never appears in a message.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfclaims.core.errors import InputError
from tfclaims.ingest.readers import read_csv
from tfclaims.ingest.validate import ColumnSpec, check_part, contract_columns, table_specs, validate_table
from tfclaims.schemas._fields import code_lists

SECRET = "SECRET"
SPECS = table_specs()
COLUMNS = contract_columns()
TABLE_NAMES = sorted(SPECS)

HOSTILE = [
    "", " ", "  \t ", "inf", "-inf", "nan", "NaN", "Infinity", "1e400", "-1e400", "1e-400", "１２６", "２０２０-０１-３１",
    "０００１", "Ｙ", "\u200b", "0001\u200b", "\u200c1", "1\u200d", "\u2060x", "x\ufeff", "\ufeff", "a\x00b", "\x00",
    "\x07", "1.234567890123457e+19", "9.434765919E+09", "=1+2", "+44", "-1", "@SUM(A1)", '"', '""', "a,b", 'say "hi"',
    "line\nbreak", "cr\rhere", "\u202eevil", "e\u0301", "ﬁ", "①", "²", "٣", "१२", "😀", "👨\u200d👩\u200d👧", "ß", "İ",
    "99999999999999999999", "-0", "+5", "0x10", "1_000", "1,000", "12.5", ".5", "5.", "00/00/0000", "2020-02-30",
    "31/12/2020", "2020-12-31T00:00", "1899-12-31", "9999-12-31", "yes", "N", "true", "2023/24", "autumn",
    "\u00a0", "x\u00a0y", "\\", "'", "NULL", "None", "#N/A", "x" * 300,
]
EXTRA_HEADERS = ["notes", "Unnamed: 3", "", " ", "ID", "person id", "col;x", "£", "nan"]
TWIN_HEADERS = ["PERSON_ID ", "\ufeffperson_id"]  # give person_id again: refused when person_id is there too


def _valid(rng: random.Random, spec: ColumnSpec) -> str:
    kind = spec.kind
    if kind == "date":
        y, m, d = rng.randint(1890, 2110), rng.randint(1, 12), rng.randint(1, 28)
        return f"{y:04d}-{m:02d}-{d:02d}" if rng.random() < 0.7 else f"{d}/{m}/{y}"
    if kind == "int":
        return str(rng.choice([0, 1, 5, 10, 60, 190, 400]))
    if kind == "number":
        return rng.choice(["0", "16", "37.5", "40", "12.25"])
    if kind == "code":
        return rng.choice(code_lists()[spec.codes or ""] + ["OTHER"])
    if kind == "postcode":
        return rng.choice(["SW1A 1AA", "m1 1ae", "B33 8TH", "CR2 6XH", "NOT A PC"])
    if kind == "upn":
        return rng.choice(["H801200001001", "A801200001001", "h801200001001"])
    if kind == "nhs_number":
        return rng.choice(["9434765919", "943 476 5919", "9434765918"])
    if kind == "ni_number":
        return rng.choice(["AB123456C", "ab 12 34 56 c", "QQ123456C"])
    if kind == "id":
        return rng.choice(["0001", "0002", "F01", "F02", "P-17"])
    if spec.name == "academic_year":
        return rng.choice(["2023/24", "2019/20", "2023/25"])
    return rng.choice(["Ann", "Bob", "Smith", "Zoë", "O'Neil", "Nguyễn", "محمد", f"{SECRET}name"])


def _random_text(rng: random.Random) -> str:
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xFE00, 0xFEFF),
              (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x0, 0x1F)]
    lo, hi = rng.choice(blocks)
    return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6)))


def _cell(rng: random.Random, spec: ColumnSpec | None) -> str:
    r = rng.random()
    if spec is not None and r < 0.55:
        return _valid(rng, spec)
    if r < 0.85:
        return rng.choice(HOSTILE)
    if r < 0.9:
        return f"{SECRET}{rng.randint(0, 99)}"
    return _random_text(rng)


def _header(rng: random.Random, table: str) -> tuple[list[str], list[ColumnSpec | None]]:
    specs = SPECS[table]
    chosen = [c for c in specs if (c.required_column and rng.random() < 0.93) or rng.random() < 0.5]
    rng.shuffle(chosen)
    names: list[str] = []
    for c in chosen:
        name = c.name
        if rng.random() < 0.1:
            name = rng.choice([name.upper(), f" {name} ", name.title()])
        names.append(name)
    out_specs: list[ColumnSpec | None] = list(chosen)
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        at = rng.randint(0, len(names))
        names.insert(at, rng.choice(EXTRA_HEADERS) if rng.random() < 0.95 else rng.choice(TWIN_HEADERS))
        out_specs.insert(at, None)
    if rng.random() < 0.02 and names:
        names.append(names[0])  # a column twice
        out_specs.append(out_specs[0])
    return names, out_specs


def _encode(rng: random.Random, records: list[list[str]]) -> str:
    if rng.random() < 0.85:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=rng.choice(["\n", "\n", "\r\n", "\r"])).writerows(records)
        return buf.getvalue()
    return "\n".join(",".join(r) for r in records) + rng.choice(["\n", ""])  # written without quoting


def _mutate(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.03:
        return text.replace(",", ";")
    if r < 0.06:
        return text.replace(",", "\t")
    if r < 0.09:
        return rng.choice(["Extract for March", "Troubled families,,,", "", ",,,"]) + "\n" + text
    if r < 0.12 and text:
        at = rng.randint(0, len(text))
        return text[:at] + '"' + text[at:]  # a quote opened somewhere
    if r < 0.15:
        lines = text.split("\n")
        at = rng.randint(0, len(lines))
        return "\n".join(lines[:at] + [rng.choice(["", ",", "x,y,z,w,v,u,t,s,r,q,p,o,n"])] + lines[at:])
    if r < 0.17 and text:
        return text[: rng.randint(0, len(text))]  # cut short
    return text


def _bytes(rng: random.Random, text: str) -> bytes:
    r = rng.random()
    if r < 0.03:
        return text.encode("utf-16")
    if r < 0.05:
        return text.encode("latin-1", errors="replace")
    if r < 0.09:
        return codecs.BOM_UTF8 + text.encode("utf-8", errors="surrogatepass")
    data = text.encode("utf-8", errors="surrogatepass")
    if r < 0.12 and data:
        at = rng.randint(0, len(data) - 1)
        data = data[:at] + bytes([rng.randint(0, 255)]) + data[at + 1 :]  # a stray byte
    return data


def random_workbook_rows(rng: random.Random, table: str | None = None) -> tuple[str, list[list[object]]]:
    """(table, rows of cells for one sheet: text, numbers, dates, blanks; the header first)."""
    import datetime as dt

    table = table or rng.choice(TABLE_NAMES)
    names, specs = _header(rng, table)
    rows: list[list[object]] = [list(names)]
    for _ in range(rng.choice([0, 1, 2, 5, 10])):
        row: list[object] = []
        for s in specs:
            r = rng.random()
            if r < 0.1:
                row.append(rng.choice([0, 1, 126, -1, 1.5, 1e19, 12345678901234567890, float("nan"), float("inf"), 45000]))
            elif r < 0.15:
                row.append(rng.choice([dt.date(2020, 1, 31), dt.datetime(2020, 1, 31, 13, 5), dt.date(1899, 12, 31)]))
            elif r < 0.2:
                row.append(None)
            else:
                row.append(_cell(rng, s))
        rows.append(row)
    if rng.random() < 0.1:
        rows.insert(0, ["Extract for March"])
    return table, rows


def random_table(rng: random.Random, table: str | None = None) -> tuple[str, bytes]:
    """(table, the bytes of a CSV file for it)."""
    table = table or rng.choice(TABLE_NAMES)
    names, specs = _header(rng, table)
    n = rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 20])
    records = [names] + [[_cell(rng, s) for s in specs] for _ in range(n)]
    return table, _bytes(rng, _mutate(rng, _encode(rng, records)))


@dataclass
class Outcome:
    kind: str  # "accepted", "quarantined" or "input_error"
    detail: str  # the InputError's message, or ""
    read: int = 0
    quarantined: int = 0


def check_table(folder: Path, table: str, data: bytes) -> Outcome:
    """Read and validate one table's file as ingest does; raise AssertionError if the outcome breaks a promise."""
    path = folder / f"{table}.csv"
    path.write_bytes(data)
    try:
        part = read_csv(path, table, COLUMNS, {})
        check_part(part, SPECS[table])
        accepted, errors, count = validate_table(table, [part], SPECS[table])
    except InputError as exc:
        message = str(exc)
        assert message.strip(), "an InputError without a message"
        assert SECRET not in message, f"a cell's text in a message: {message!r}"
        return Outcome("input_error", message)
    assert count.read == len(part.frame) == count.accepted + count.quarantined, count
    assert len(accepted) == count.accepted
    assert errors["row"].nunique() == count.quarantined, (errors["row"].nunique(), count)
    assert errors["message"].notna().all() and (errors["message"].str.len() > 0).all()
    assert errors["row"].notna().all() and np.all(errors["row"].to_numpy(dtype=np.int64) >= 2)
    return Outcome("quarantined" if count.quarantined else "accepted", "", count.read, count.quarantined)


def check_tables(folder: Path, inputs: list[tuple[int, str, bytes]]) -> dict[int, Outcome]:
    """Many inputs at once, as one cohort whose tables each come from many files: every file is read
    on its own, then each table's files are validated together (``validate_table`` takes a table's
    files, as a council may split a table); each file's rows must reconcile on their own. An error
    that is not an InputError propagates (the caller replays the inputs one by one to name the seed)."""
    outcomes: dict[int, Outcome] = {}
    parts: dict[str, list] = {}
    for seed, table, data in inputs:
        path = folder / f"{seed}.csv"
        path.write_bytes(data)
        try:
            part = read_csv(path, table, COLUMNS, {})
            check_part(part, SPECS[table])
        except InputError as exc:
            message = str(exc)
            assert message.strip() and SECRET not in message, f"seed {seed}: {message!r}"
            outcomes[seed] = Outcome("input_error", message)
            continue
        parts.setdefault(table, []).append((seed, part))
    for table, seeded in parts.items():
        accepted, errors, count = validate_table(table, [p for _, p in seeded], SPECS[table])
        assert count.read == sum(len(p.frame) for _, p in seeded) == count.accepted + count.quarantined, count
        assert len(accepted) == count.accepted
        by_file_errors = errors.groupby("file")["row"].nunique()
        by_file_accepted = accepted["source_file"].value_counts()
        for seed, part in seeded:
            quarantined = int(by_file_errors.get(part.file, 0))
            assert int(by_file_accepted.get(part.file, 0)) + quarantined == len(part.frame), (seed, table)
            outcomes[seed] = Outcome("quarantined" if quarantined else "accepted", "", len(part.frame), quarantined)
        assert errors["message"].notna().all() and (errors["message"].str.len() > 0).all()
    return outcomes
