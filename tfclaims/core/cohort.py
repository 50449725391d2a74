"""The accepted tables of one cohort, as every stage after ingest sees them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import datetime as dt

import pandas as pd

from tfclaims.schemas.inputs import EVENT_TABLES, TABLES

__all__ = ["EVENT_TABLES", "LINEAGE_COLUMNS", "TABLES", "Cohort"]

LINEAGE_COLUMNS: tuple[str, ...] = ("source_file", "source_sheet", "source_row")


@dataclass
class Cohort:
    """Accepted, typed tables keyed by contract name.

    A table missing from ``tables`` was **not supplied** (its indicators are not evaluated); a table
    present with no rows was supplied empty (the source has no events).

    ``covered_to[table]``: the last day a table is known to be complete on, when it came only from
    annual returns (the latest return's reference date). After that day its silence is not evidence:
    a rule that needs to know there was *no* episode cannot be evaluated there. A table not named
    is complete to the day of the run.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    covered_to: dict[str, dt.date] = field(default_factory=dict)

    def supplied(self, name: str) -> bool:
        return name in self.tables

    def covered_on(self, name: str, day: dt.date) -> bool:
        """Whether table ``name`` is complete on ``day`` (always, unless it came only from returns)."""
        end = self.covered_to.get(name)
        return end is None or day <= end

    def get(self, name: str) -> pd.DataFrame | None:
        """The table, or None when it was not supplied."""
        return self.tables.get(name)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def people(self) -> pd.DataFrame:
        return self.tables["people"]

    def with_tables(self, updates: Mapping[str, pd.DataFrame]) -> Cohort:
        return Cohort({**self.tables, **updates}, dict(self.covered_to))

    def without(self, names: Iterable[str]) -> Cohort:
        drop = set(names)
        return Cohort({k: v for k, v in self.tables.items() if k not in drop}, {k: v for k, v in self.covered_to.items() if k not in drop})
