"""The auditor workbook's layout and the canonical form of its cells, shared by the code that writes
``spot_check.xlsx`` and the code that reads it back.

Each locked cell of a sampled row is kept in the very hidden ``_control`` sheet as ``cell_hash`` of
its canonical text; reading the workbook back recomputes the hash, so an edit to a locked cell is caught.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

__all__ = [
    "AUDITOR_COLUMNS",
    "COLUMN_LETTER",
    "LOCKED_COLUMNS",
    "SAMPLE_HEADER",
    "WORKBOOK_FORMAT",
    "YES_NO_COLUMNS",
    "as_read_back",
    "as_text",
    "canonical",
    "cell_hash",
    "hash_text",
    "scalar",
]

WORKBOOK_FORMAT = "tfclaims-spot-check/1"

# --- sheet Sample: the locked facts of each sampled claim, then the auditor's cells ----------------

LOCKED_COLUMNS: tuple[str, ...] = (
    "claim_reference",
    "family_id",
    "route",
    "attached_on",
    "closed_on",
    "lead_practitioner",
    "headlines_at_attachment",
    "outcomes",
)
YES_NO_COLUMNS: tuple[str, ...] = ("eligible_confirmed", "whole_family_working_confirmed", "outcome_confirmed")
AUDITOR_COLUMNS: tuple[str, ...] = (*YES_NO_COLUMNS, "verdict", "notes", "checked_by", "checked_on")
SAMPLE_HEADER: tuple[str, ...] = (*LOCKED_COLUMNS, *AUDITOR_COLUMNS)
COLUMN_LETTER = {name: get_column_letter(i + 1) for i, name in enumerate(SAMPLE_HEADER)}
# Control characters other than TAB and LF are stored as ``_xHHHH_`` (by xlsxwriter, and by Excel
# when the auditor saves), and openpyxl reads them back in that form: the control hashes take it too.
_ESCAPED_IN_XLSX = re.compile(r"[\x00-\x08\x0b-\x1f]")


def scalar(v: Any) -> Any:
    """A plain cell value: None for missing, ``date`` for timestamps, Python numbers."""
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return None if pd.isna(v) else v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def canonical(v: Any) -> str:
    """The text a locked cell is hashed as, the same whether written by us or read back."""
    v = scalar(v)
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def hash_text(claim_reference: str, column: str, canonical_text: str) -> str:
    """The control hash of one locked cell, from its canonical text (as ``canonical`` gives it)."""
    text = "\x1f".join((WORKBOOK_FORMAT, claim_reference, column, canonical_text))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def cell_hash(claim_reference: str, column: str, value: Any) -> str:
    """The control hash of one locked cell, from its value as read back."""
    return hash_text(claim_reference, column, canonical(value))


def as_read_back(text: str) -> str:
    """A text cell as openpyxl reads it back: control characters in their ``_xHHHH_`` form."""
    if _ESCAPED_IN_XLSX.search(text) is None:
        return text
    return _ESCAPED_IN_XLSX.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def as_text(v: Any) -> str | None:
    """An auditor's cell as text: stripped, whole numbers without ``.0``; None when blank."""
    v = scalar(v)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = str(v).strip()
    return text or None

