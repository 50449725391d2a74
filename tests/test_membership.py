"""Membership tests by Arrow's hash lookup agree with pandas' own, missing values never in."""

import numpy as np
import pandas as pd

from tfclaims.core.membership import is_in, is_in_each


def test_is_in_each_agrees_with_pandas_isin_for_every_column_and_missing_values_are_never_in():
    ids = pd.Index(["P1", "P2", "007", None], dtype="str")
    columns = {
        "a": pd.Series(["P1", "P3", None, "007", "7"], dtype="str"),
        "b": pd.Series(["P2", "P2", "p1", ""], dtype="str"),
        "c": pd.Series([], dtype="str"),
        "objects": pd.Series(["P1", None, 7], dtype=object),  # not Arrow text: pandas' isin
    }
    got = is_in_each(columns, ids)
    assert list(got) == list(columns)
    for name, s in columns.items():
        expected = (s.notna() & s.isin(ids.dropna())).to_numpy(dtype=bool)
        assert got[name].dtype == bool and np.array_equal(got[name], expected), name
    assert is_in(columns["a"], ids).tolist() == [True, False, False, True, False]  # "007" keeps its zeros, "7" is not it


def test_is_in_against_a_series_of_ids_with_many_rows():
    rng = np.random.default_rng(1)
    ids = pd.Series([f"F{i:06d}" for i in range(0, 200_000, 2)], dtype="str")
    values = pd.Series([f"F{i:06d}" for i in rng.integers(0, 200_000, 300_000)], dtype="str")
    assert np.array_equal(is_in(values, ids), values.isin(ids).to_numpy(dtype=bool))


def test_duplicated_key_marks_every_row_of_a_repeated_key_and_nothing_else():
    from tfclaims.schemas.inputs import duplicated_key

    df = pd.DataFrame({"person_id": pd.Series(["P1", "P1", "P2", None, None, "P1"], dtype="str"),
                       "term": pd.Series(["autumn", "spring", "autumn", "autumn", "autumn", "autumn"], dtype="str")})
    assert duplicated_key(df, ["person_id", "term"]).tolist() == [True, False, False, True, True, True]
    assert not duplicated_key(df.iloc[:3], ["person_id", "term"]).any()
    rng = np.random.default_rng(3)
    big = pd.DataFrame({"a": pd.Series(rng.integers(0, 5_000, 200_000).astype(str), dtype="str"),
                        "b": pd.Series(rng.integers(0, 40, 200_000).astype(str), dtype="str")})
    assert np.array_equal(duplicated_key(big, ["a", "b"]).to_numpy(), big.duplicated(["a", "b"], keep=False).to_numpy())
