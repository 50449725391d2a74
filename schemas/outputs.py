"""pandera models of the stage-agnostic output tables (validation errors, unmatched rows)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class ValidationErrors(pa.DataFrameModel):
    """``validation_errors.csv``: one row per failed check of a quarantined row."""

    table: Series[str]
    file: Series[str]
    sheet: Series[str] = pa.Field(nullable=True)
    row: Series[pd.Int64Dtype] = pa.Field(ge=1)
    column: Series[str]
    value: Series[str] = pa.Field(nullable=True)
    check: Series[str]
    message: Series[str]

    class Config:
        strict = True
        ordered = True
