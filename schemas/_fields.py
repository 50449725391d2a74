"""Field builders that carry, beside pandera's checks, how a raw text cell is typed (``metadata["kind"]``).

Kinds: ``id``, ``text``, ``date``, ``int``, ``number``, ``bool``, ``code`` (with ``metadata["codes"]``
naming a list in ``data/reference/codes.yaml``), ``postcode``, ``upn``, ``nhs_number``, ``ni_number``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
import pandera.pandas as pa

from tfclaims.core.resources import REFERENCE_DIR, safe_yaml

MIN_DATE = pd.Timestamp("1900-01-01")
MAX_DATE = pd.Timestamp("2100-12-31")


@lru_cache(maxsize=1)
def code_lists() -> dict[str, list[str]]:
    with open(REFERENCE_DIR / "codes.yaml", encoding="utf-8") as fh:
        return {k: [str(v) for v in vs] for k, vs in safe_yaml(fh).items()}


def _field(kind: str, required: bool, extra_meta: dict[str, Any] | None = None, **checks: Any) -> Any:
    meta = {"kind": kind, **(extra_meta or {})}
    return pa.Field(nullable=not required, metadata=meta, **checks)


def Id(required: bool = True, unique: bool = False) -> Any:
    return _field("id", required, unique=unique)


def Text(required: bool = False) -> Any:
    return _field("text", required)


def Date(required: bool = True) -> Any:
    return _field("date", required, in_range={"min_value": MIN_DATE, "max_value": MAX_DATE})


def Count(required: bool = True) -> Any:
    return _field("int", required, ge=0)


def Number(required: bool = False, signed: bool = False) -> Any:
    return _field("number", required) if signed else _field("number", required, ge=0)


def Code(codes: str, required: bool = True) -> Any:
    return _field("code", required, {"codes": codes}, isin=code_lists()[codes])


def Postcode() -> Any:
    return _field("postcode", False, str_matches=r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")


def Upn() -> Any:
    return _field("upn", False)


def NhsNumber() -> Any:
    return _field("nhs_number", False)


def NiNumber() -> Any:
    return _field("ni_number", False)
