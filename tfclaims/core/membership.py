"""Membership tests on text columns: "is this row's id one of those?", by Arrow's hash lookup.

pandas' ``isin`` on Arrow-backed strings turns the ids into Python objects (seconds per million
rows); ``pyarrow.compute.is_in`` hashes them in C. ``is_in_each`` tests several columns against one
set of ids with one lookup table (built once, not once per column).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_string_dtype

__all__ = ["is_in", "is_in_each"]


def _arrow_text(s: pd.Series | pd.Index) -> pa.Array | pa.ChunkedArray | None:
    """The column as Arrow strings without copying, or None when it is not Arrow-backed text."""
    dtype = s.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        arr = pa.array(s.array) if isinstance(s, pd.Series) else pa.array(pd.array(s, dtype="str"))
        return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    return None


def _value_set(ids: pd.Index | pd.Series) -> pa.Array:
    ids = ids[pd.notna(ids)]
    return pa.array(pd.array(ids, dtype="str")).cast(pa.large_string())


def is_in(values: pd.Series, ids: pd.Index | pd.Series) -> np.ndarray:
    """``values.notna() & values.isin(ids)`` as a bool array (missing values are never in)."""
    return is_in_each({"_": values}, ids)["_"]


def is_in_each(columns: Mapping[str, pd.Series], ids: pd.Index | pd.Series) -> dict[str, np.ndarray]:
    """For each column, ``notna & isin(ids)`` as a bool array: the text columns in one Arrow lookup."""
    out: dict[str, np.ndarray] = {}
    text: dict[str, pa.Array] = {}
    for name, s in columns.items():
        arr = _arrow_text(s) if is_string_dtype(getattr(ids, "dtype", object)) else None
        if arr is None:
            out[name] = (s.notna() & s.isin(ids)).to_numpy(dtype=bool)
        else:
            text[name] = arr
    if text:
        lengths = [len(a) for a in text.values()]
        chunks = [c for a in text.values() for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
        joined = pa.concat_arrays(chunks) if chunks else pa.array([], pa.large_string())
        found = pc.is_in(joined, value_set=_value_set(ids), skip_nulls=True).to_numpy(zero_copy_only=False).astype(bool, copy=False)
        starts = np.cumsum([0, *lengths])
        for (name, _), a, b in zip(text.items(), starts[:-1], starts[1:], strict=True):
            out[name] = found[a:b]
    return {name: out[name] for name in columns}
