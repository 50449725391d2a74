"""pandera models of what reading the children's social care returns reports, beside the rows it gives.

- ``ReturnsLeftOut``: ``returns_left_out.csv``, one row per record of a return that is not a row of
  the run, with the reason (an option, a later year's version, an assessment factor no plan reads);
- ``ReturnsFindings``: ``returns_findings.csv``, one row per value that breaks the return's published
  schema and was reported while the rest of the file was read.

``element`` is the XML element (CIN census) or the 903 table (``Episodes``, ``Header``) and ``line``
the XML line or CSV row where the record starts; ``child`` is the council's own child id.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

LEFT_OUT_COLUMNS: tuple[str, ...] = ("source", "file", "element", "line", "child", "reason")
FINDING_COLUMNS: tuple[str, ...] = ("source", "file", "element", "line", "child", "value", "problem")


class ReturnsLeftOut(pa.DataFrameModel):
    source: Series[str]
    file: Series[str]
    element: Series[str]
    line: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    child: Series[str] = pa.Field(nullable=True)
    reason: Series[str]

    class Config:
        strict = True
        ordered = True


class ReturnsFindings(pa.DataFrameModel):
    source: Series[str]
    file: Series[str]
    element: Series[str] = pa.Field(nullable=True)
    line: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    child: Series[str] = pa.Field(nullable=True)
    value: Series[str] = pa.Field(nullable=True)
    problem: Series[str]

    class Config:
        strict = True
        ordered = True
