"""docs/data-dictionary.md must not drift from the input contract (``tfclaims.schemas.inputs``).

Every table of ``INPUT_MODELS`` has a ``## <table>`` heading; every column of its model, and every
code of each code column's list (``codes.yaml``), appears in backticks in that table's section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tfclaims.schemas._fields import code_lists
from tfclaims.schemas.inputs import INPUT_MODELS

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


def _sections() -> dict[str, str]:
    """Level-2 heading (backticks stripped) -> the text up to the next level-2 heading."""
    text = DICTIONARY.read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for chunk in re.split(r"(?m)^## ", text)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.strip().strip("`").strip()] = body
    return sections


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


@pytest.mark.parametrize("table", list(INPUT_MODELS))
def test_every_code_is_listed(table: str) -> None:
    section = _sections().get(table, "")
    lists = code_lists()
    missing: list[str] = []
    for name, column in INPUT_MODELS[table].to_schema().columns.items():
        codes = (column.metadata or {}).get("codes")
        if codes is None:
            continue
        assert codes in lists, f"{table}.{name} names code list {codes!r}, not in codes.yaml"
        missing += [f"{name}={code}" for code in lists[codes] if f"`{code}`" not in section]
    assert not missing, f"## `{table}` does not list code(s): {', '.join(missing)}"


def test_code_columns_exist() -> None:
    """The check above is not vacuous: the contract has code columns."""
    assert any(
        (col.metadata or {}).get("kind") == "code"
        for model in INPUT_MODELS.values()
        for col in model.to_schema().columns.values()
    )
