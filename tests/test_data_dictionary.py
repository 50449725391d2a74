"""docs/data-dictionary.md must not drift from the input contract (``tfclaims.schemas.inputs``).

Every table of ``INPUT_MODELS`` has a ``## `<table>` `` section, and that section's dictionary table
has one row per column of the model (``model.to_schema().columns``), no row for a column the model
lacks, a ``required`` cell and a ``kind`` cell that say what the model says, and, for a code
column, every code of its list in ``codes.yaml`` in backticks in its own row.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tfclaims.schemas._fields import code_lists
from tfclaims.schemas.inputs import INPUT_MODELS

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
HEADER = ["column", "required", "kind", "meaning / allowed values"]
# The words of the `required` cell for: the column must be present and non-blank; present, may be
# blank; may be absent.
REQUIRED_WORDS = {(True, False): "yes", (True, True): "column yes, value may be blank", (False, True): "optional column"}


def _sections() -> dict[str, str]:
    """Level-2 heading (backticks stripped) -> the text up to the next level-2 heading."""
    text = DICTIONARY.read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for chunk in re.split(r"(?m)^## ", text)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.strip().strip("`").strip()] = body
    return sections


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _rows(table: str) -> dict[str, list[str]]:
    """The dictionary table of ``table``'s section: column name -> its cells."""
    section = _sections()[table]
    lines = [ln for ln in section.splitlines() if ln.lstrip().startswith("|")]
    assert lines and _cells(lines[0]) == HEADER, f"## `{table}`: the table's header must be | {' | '.join(HEADER)} |"
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        cells = _cells(line)
        assert len(cells) == len(HEADER), f"## `{table}`: a row without {len(HEADER)} cells: {line}"
        name = re.fullmatch(r"`([a-z0-9_]+)`", cells[0])
        assert name, f"## `{table}`: the first cell must be one `column`: {line}"
        assert name.group(1) not in rows, f"## `{table}`: column {name.group(1)} has two rows"
        rows[name.group(1)] = cells
    return rows


def test_dictionary_exists() -> None:
    assert DICTIONARY.is_file(), f"{DICTIONARY} is missing"


@pytest.mark.parametrize("table", list(INPUT_MODELS))
def test_every_table_has_a_heading(table: str) -> None:
    assert table in _sections(), f"docs/data-dictionary.md has no '## `{table}`' heading"


@pytest.mark.parametrize("table", list(INPUT_MODELS))
def test_every_column_is_described(table: str) -> None:
    section = _sections().get(table, "")
    columns = INPUT_MODELS[table].to_schema().columns
    missing = [c for c in columns if f"`{c}`" not in section]
    assert not missing, f"## `{table}` does not name column(s): {', '.join(missing)}"
    rows = _rows(table)
    assert not (set(columns) - set(rows)), f"## `{table}` has no row for: {', '.join(sorted(set(columns) - set(rows)))}"
    assert not (set(rows) - set(columns)), f"## `{table}` has rows for columns the contract lacks: {', '.join(sorted(set(rows) - set(columns)))}"


@pytest.mark.parametrize("table", list(INPUT_MODELS))
def test_required_and_kind_say_what_the_model_says(table: str) -> None:
    rows = _rows(table)
    wrong = []
    for name, column in INPUT_MODELS[table].to_schema().columns.items():
        _, required, kind, _ = rows[name]
        want_required = REQUIRED_WORDS[(bool(column.required), bool(column.nullable))]
        want_kind = (column.metadata or {}).get("kind", "text")
        if required != want_required:
            wrong.append(f"{name}: required {required!r}, the model says {want_required!r}")
        if kind != want_kind:
            wrong.append(f"{name}: kind {kind!r}, the model says {want_kind!r}")
    assert not wrong, f"## `{table}`: " + "; ".join(wrong)


@pytest.mark.parametrize("table", list(INPUT_MODELS))
def test_every_code_is_listed_in_its_row(table: str) -> None:
    rows = _rows(table)
    lists = code_lists()
    missing: list[str] = []
    for name, column in INPUT_MODELS[table].to_schema().columns.items():
        codes = (column.metadata or {}).get("codes")
        if codes is None:
            continue
        assert codes in lists, f"{table}.{name} names code list {codes!r}, not in codes.yaml"
        missing += [f"{name}={code}" for code in lists[codes] if f"`{code}`" not in rows[name][3]]
    assert not missing, f"## `{table}` does not list code(s) in their row: {', '.join(missing)}"


def test_code_columns_exist() -> None:
    """The code check is not vacuous: the contract has code columns."""
    assert any(
        (col.metadata or {}).get("kind") == "code"
        for model in INPUT_MODELS.values()
        for col in model.to_schema().columns.values()
    )


def test_the_person_reference_rule_and_the_returns_are_described() -> None:
    sections = _sections()
    assert "person_id" in sections.get("Referring to a person", ""), "no '## Referring to a person' section"
    returns = sections.get("Fields read from the statutory returns", "")
    for field in ("LAchildID", "CINreferralDate", "CPPstartDate", "AssessmentFactors", "DECOM", "DEC", "RNE", "REC", "LS",
                  "include_cin_no_further_action", "include_903_short_breaks", "returns_left_out.csv", "returns_findings.csv"):
        assert field in returns, f"'## Fields read from the statutory returns' does not name {field}"
