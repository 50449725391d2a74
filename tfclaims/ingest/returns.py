"""The national children's social care returns as cohort sources: what every return reader gives back.

A council already produces the Children in Need census (XML, one file per collection year) and the
SSDA903 looked-after children return (a set of CSV files per year). A cohort folder may hold them
beside its tables. Each reader turns the files of its return, all years together, into rows of the
input contract's tables (``social_care``, and ``local_events`` for assessment factors), as text
with their lineage, exactly as a hand-made table would arrive: ingest then types and validates them
with the same pandera models, so quarantine, counts and lineage stay one mechanism.

Lineage of a return row: ``source_file`` the file name, ``source_sheet`` the element or 903 table
the row came from (``CINdetails``, ``ChildProtectionPlans``, ``Assessments``, ``Episodes``), and
``source_row`` the XML line (CIN) or the CSV row (903, the header is row 1) of that element.

Every record a reader looks at ends in exactly one of: a contract row (in :attr:`ReturnRows.parts`),
(903 episodes: several chained into one spell), or a left-out row (:attr:`ReturnRows.left_out`, with its reason: an option, a later year's version,
an assessment factor no plan reads). :attr:`ReturnRows.findings` are values that break the published
schema and were reported while the rest was read; they are notes, not dispositions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tfclaims.core.config import ReaderLimits, ReturnSettings
from tfclaims.core.local_codes import FACTOR_CODE_PREFIX
from tfclaims.ingest.readers import RawPart
from tfclaims.schemas.returns import FINDING_COLUMNS, LEFT_OUT_COLUMNS

__all__ = [
    "FACTOR_CODE_PREFIX",
    "FINDING_COLUMNS",
    "LEFT_OUT_COLUMNS",
    "FileCoverage",
    "ReturnOptions",
    "ReturnRows",
    "covered_to",
    "empty_findings",
    "empty_left_out",
    "finding_rows",
    "left_out_rows",
    "record_frame",
]

# LEFT_OUT_COLUMNS: one row per record left out: where it is, whose it is (the council's child id), and why.
# FINDING_COLUMNS: one row per value that breaks the published schema: where, whose, the value, what is wrong.


def record_frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Left-out or finding records (dicts) as a frame of ``columns`` (text, ``line`` Int64), by file and line."""
    frame = pd.DataFrame(rows, columns=list(columns))
    out = pd.DataFrame({c: pd.array(frame[c].to_numpy(dtype=object), dtype="Int64" if c == "line" else "str") for c in columns})
    return out.sort_values(["file", "line"], kind="stable", ignore_index=True) if len(out) else out


def empty_left_out() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "line" else "str") for c in LEFT_OUT_COLUMNS})


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "line" else "str") for c in FINDING_COLUMNS})


_SETTINGS, _LIMITS = ReturnSettings(), ReaderLimits()
SUPERSEDED = "superseded by a later year's return"


@dataclass(frozen=True)
class ReturnOptions:
    """What a council chooses about its returns (its config's ``returns`` section and
    ``reader_limits.max_return_bytes``; the defaults are theirs), and the plan's factor codes.

    ``factor_codes``: the ``local_events`` codes the outcome plan declares; an assessment factor is
    emitted as a ``local_events`` row only when its code (``CIN_<factor>``, e.g. ``CIN_3B``) is one of
    them, and is otherwise left out ("no rule of the outcome plan reads it").
    """

    include_cin_no_further_action: bool = _SETTINGS.include_cin_no_further_action
    include_903_short_breaks: bool = _SETTINGS.include_903_short_breaks
    max_return_bytes: int = _LIMITS.max_return_bytes
    factor_codes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: ReturnSettings, limits: ReaderLimits, factor_codes: frozenset[str] = frozenset()) -> ReturnOptions:
        return cls(settings.include_cin_no_further_action, settings.include_903_short_breaks, limits.max_return_bytes, factor_codes)


@dataclass(frozen=True)
class FileCoverage:
    """What one return file covers: its collection year (``2025`` = 1 April 2024 to 31 March 2025)
    and its reference date (the day its open episodes are open at)."""

    source: str  # "CIN census" | "SSDA903"
    file: str
    collection_year: int
    reference_date: dt.date


@dataclass
class ReturnRows:
    """What one return's files (all years) became."""

    source: str  # "CIN census" | "SSDA903"
    parts: list[RawPart]  # contract rows as text, one RawPart per (table, file, element)
    coverage: list[FileCoverage]
    read: int  # records looked at (CINdetails, ChildProtectionPlans, factors, 903 episodes)
    used: int  # records that went into contract rows (903: several episodes chain into one spell)
    left_out: pd.DataFrame = field(default_factory=empty_left_out)  # LEFT_OUT_COLUMNS
    findings: pd.DataFrame = field(default_factory=empty_findings)  # FINDING_COLUMNS

    @property
    def emitted(self) -> int:
        return sum(len(p.frame) for p in self.parts)

    def summary(self) -> dict[str, object]:
        """What the run summary says about this return: counts and coverage, no personal data."""
        # each superseded record names the return that replaced it (returns_left_out.csv); counted together here
        grouped = self.left_out["reason"].str.replace(r"^superseded by the \d{4} return \(.*\)$", SUPERSEDED, regex=True)
        reasons = grouped.value_counts(sort=False) if len(self.left_out) else pd.Series(dtype="int64")
        rows: dict[str, int] = {}
        for p in self.parts:
            rows[p.table] = rows.get(p.table, 0) + len(p.frame)
        return {
            "source": self.source,
            "files": [{"file": c.file, "collection_year": c.collection_year, "reference_date": c.reference_date.isoformat()}
                      for c in self.coverage],
            "records_read": self.read, "records_used": self.used, "records_left_out": len(self.left_out),
            "left_out_by_reason": {str(k): int(v) for k, v in sorted(reasons.items())},
            "findings": len(self.findings),
            "rows": rows,
        }

    def reconciles(self) -> bool:
        """Every record looked at went into a contract row or is a left-out row."""
        return self.read == self.used + len(self.left_out)


def covered_to(returns: list[ReturnRows]) -> dt.date | None:
    """The last day the returns together are known to be complete on: for each return, its latest
    file's reference date; of several returns (CIN census and SSDA903), the earlier of those.
    None when no return file was read."""
    ends = [max(c.reference_date for c in r.coverage) for r in returns if r.coverage]
    return min(ends) if ends else None


def left_out_rows(returns: list[ReturnRows]) -> pd.DataFrame:
    """Every return's left-out records, in one frame (LEFT_OUT_COLUMNS)."""
    frames = [r.left_out for r in returns if len(r.left_out)]
    return pd.concat(frames, ignore_index=True)[list(LEFT_OUT_COLUMNS)] if frames else empty_left_out()


def finding_rows(returns: list[ReturnRows]) -> pd.DataFrame:
    """Every return's findings, in one frame (FINDING_COLUMNS)."""
    frames = [r.findings for r in returns if len(r.findings)]
    return pd.concat(frames, ignore_index=True)[list(FINDING_COLUMNS)] if frames else empty_findings()
