"""Tiny hand-built cohorts typed exactly as ingest hands them over (contract names, pandas dtypes,
lineage columns), so that rules tests read like the rule they prove.

    c = cohort(
        people=[person("P1", "F1", "1980-01-01", "parent"), person("C1", "F1", "2010-05-05", "child")],
        offences=[dict(person_id="P1", offence_date="2020-11-01", outcome="proven")],
    )
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfclaims.core.cohort import Cohort

INT_COLUMNS = {"sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence", "sessions", "source_row"}
FLOAT_COLUMNS = {"hours_per_week", "link_probability", "value"}


def _is_date(col: str) -> bool:
    return col.endswith("_on") or col.endswith("_date") or col == "date_of_birth"


def table(name: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> pd.DataFrame:
    """A typed table with lineage (``<name>.csv``, row numbers from 2 as a person sees them)."""
    frame = pd.DataFrame(rows, columns=columns) if columns else pd.DataFrame(rows)
    out: dict[str, Any] = {}
    for col in frame.columns:
        s = frame[col]
        if _is_date(col):
            out[col] = pd.to_datetime(s).astype("datetime64[ns]")
        elif col in INT_COLUMNS:
            out[col] = pd.array(s, dtype="Int64")
        elif col in FLOAT_COLUMNS:
            out[col] = pd.array(s, dtype="Float64")
        else:
            out[col] = pd.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s], dtype="str")
    typed = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    n = len(typed)
    if "source_file" not in typed:
        typed["source_file"] = pd.array([f"{name}.csv"] * n, dtype="str")
    if "source_sheet" not in typed:
        typed["source_sheet"] = pd.array([None] * n, dtype="str")
    if "source_row" not in typed:
        typed["source_row"] = pd.array(range(2, n + 2), dtype="Int64")
    return typed


EMPTY_COLUMNS: dict[str, list[str]] = {
    "offences": ["person_id", "offence_date", "outcome"],
    "asb_incidents": ["person_id", "incident_date", "asb_type"],
    "school_attendance": ["person_id", "academic_year", "term", "sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"],
    "exclusions": ["person_id", "start_date", "exclusion_type"],
    "social_care": ["person_id", "episode_type", "start_date", "end_date"],
    "benefits": ["person_id", "benefit_type", "start_date", "end_date"],
    "employment": ["person_id", "start_date", "end_date"],
    "domestic_abuse": ["person_id", "incident_date", "role", "source"],
    "health": ["person_id", "recorded_on", "issue"],
    "housing": ["family_id", "person_id", "recorded_on", "issue", "resolved_on"],
    "needs": ["family_id", "person_id", "headline", "identified_on", "outcome", "outcome_on"],
    "programme": ["family_id", "attached_on", "lead_practitioner", "whole_family_assessment_on", "action_plan_on", "closed_on", "discretion_note"],
}
ALL_EVENT_TABLES = tuple(k for k in EMPTY_COLUMNS if k not in ("programme",))


def cohort(people: list[dict[str, Any]], supply_all: bool = True, **tables: list[dict[str, Any]] | None) -> Cohort:
    """A Cohort. With ``supply_all`` every table not given is supplied empty ("no events"); pass
    ``name=None`` to leave a table out (not supplied)."""
    out = {"people": table("people", people)}
    names = set(EMPTY_COLUMNS) if supply_all else set()
    names |= set(tables)
    for name in names:
        rows = tables.get(name, [])
        if rows is None:
            continue
        cols = list(dict.fromkeys(EMPTY_COLUMNS.get(name, []) + [k for r in rows for k in r]))
        out[name] = table(name, rows, cols)
    return Cohort(out)


def person(person_id: str, family_id: str, date_of_birth: str, relationship: str, **extra: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "family_id": family_id,
        "first_name": extra.pop("first_name", "Alex"),
        "last_name": extra.pop("last_name", "Smith"),
        "date_of_birth": date_of_birth,
        "relationship": relationship,
        **extra,
    }


def term(person_id: str, year: str, term_name: str, possible: int, absent: int, unauthorised: int = 0) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "academic_year": year,
        "term": term_name,
        "sessions_possible": possible,
        "sessions_authorised_absence": absent,
        "sessions_unauthorised_absence": unauthorised,
    }


def programme(family_id: str, attached_on: str, lead: str | None = "Sam Keyworker", wfa: str | None = "default",
              plan: str | None = "default", closed_on: str | None = None, discretion_note: str | None = None) -> dict[str, Any]:
    return {
        "family_id": family_id,
        "attached_on": attached_on,
        "lead_practitioner": lead,
        "whole_family_assessment_on": attached_on if wfa == "default" else wfa,
        "action_plan_on": attached_on if plan == "default" else plan,
        "closed_on": closed_on,
        "discretion_note": discretion_note,
    }


def workbook(path: Path, sheets: dict[str, list[list[object]]], *, hidden: dict[str, str] | None = None,
             merges: dict[str, list[str]] | None = None, cells: dict[str, dict[str, object]] | None = None) -> Path:
    """An .xlsx with a sheet per entry (rows as lists), as a council's export might be: sheets may be
    hidden (``hidden``: sheet -> state), ranges merged and single cells set (e.g. formulas)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
        for ref, value in (cells or {}).get(name, {}).items():
            ws[ref] = value
        ws.sheet_state = (hidden or {}).get(name, "visible")
    wb.save(path)
    return path
