"""Spot checks: sample arithmetic, reproducibility, the auditor's workbook, reading verdicts, reconciling."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from tfclaims.core.errors import InputError
from tfclaims.claim.ledger import Ledger
from tfclaims.spot_check.claim_dir import load_claim_dir
from tfclaims.spot_check.layout import AUDITOR_COLUMNS, COLUMN_LETTER, LOCKED_COLUMNS, SAMPLE_HEADER
from tfclaims.spot_check.reconcile import read_verdicts, reconcile, wilson_interval, write_reconciliation
from tfclaims.spot_check.sample import allocate_largest_remainder, draw_sample, sample_size
from tfclaims.spot_check.workbook import run_spot_check, write_workbook

REPO = Path(__file__).resolve().parents[1]
RUN_ID = "20250331T120000Z-abc123"
FORMULA_NOTE = '=HYPERLINK("http://evil.example","click")'


# --- a claim directory built by hand ------------------------------------------------------------


def make_claim_dir(
    root: Path,
    claims: Sequence[tuple[str, str, str]] | None = None,
    *,
    routes: dict[str, int] | None = None,
    practitioner: dict[str, str] | None = None,
) -> Path:
    """The files the claim stage writes, for ``claims`` = [(claim_reference, family_id, route)] or
    ``routes`` = {route: count} (references TFC-000001..., families 0001... with leading zeros)."""
    if claims is None:
        claims = []
        for route, count in (routes or {}).items():
            for _ in range(count):
                i = len(claims) + 1
                claims.append((f"TFC-{i:06d}", f"{i:04d}", route))
    practitioner = practitioner or {}
    root.mkdir(parents=True, exist_ok=True)
    refs = [c[0] for c in claims]
    fams = [c[1] for c in claims]
    register = pd.DataFrame(
        {
            "claim_reference": refs,
            "family_id": fams,
            "family_reference": [f"{abs(hash(f)) % 16**16:016x}" for f in fams],
            "framework": "tf-phase2",
            "route": [c[2] for c in claims],
            "period_end": "2025-03-31",
            "amount_pence": 80000,
            "run_id": RUN_ID,
            "attached_on": "2023-05-02",
            "closed_on": ["" if i % 3 == 0 else "2024-11-15" for i in range(len(claims))],
            "lead_practitioner": [practitioner.get(f, f"Worker {i % 4}") for i, f in enumerate(fams)],
            "headlines_at_attachment": "crime_asb;education",
        }
    )
    register.to_csv(root / "claim_register.csv", index=False)
    pd.DataFrame(
        {
            "family_id": fams,
            "period_end": "2025-03-31",
            "decision": "claim",
            "route": [c[2] for c in claims],
            "reason": "",
            "detail": ["manager approval by A. Manager" if c[2] == "discretionary" else "" for c in claims],
        }
    ).to_csv(root / "claim_decisions.csv", index=False)
    evidence = pd.DataFrame(
        {
            "family_id": np.repeat(fams, 2),
            "headline": ["education", "crime_asb"] * len(fams),
            "person_id": [f"P{f}{k}" for f in fams for k in ("1", "2")],
            "indicator": ["persistent_absence", "proven_offence"] * len(fams),
            "source_table": ["school_attendance", "offences"] * len(fams),
            "source_file": ["school_attendance.csv", "offences.csv"] * len(fams),
            "source_row": [str(i + 2) for i in range(2 * len(fams))],
            "event_date": ["2023-01-10", "2022-12-01"] * len(fams),
        }
    )
    evidence.to_csv(root / "eligibility_evidence.csv", index=False)
    evidence.assign(indicator=["attendance_improved", "no_offences"] * len(fams), event_date="2024-07-31").to_csv(
        root / "outcome_evidence.csv", index=False
    )
    pd.DataFrame(
        {
            "family_id": np.repeat(fams, 2),
            "as_of": "2025-03-31",
            "headline": ["crime_asb", "education"] * len(fams),
            "status": "met",
            "detail": "",
        }
    ).to_csv(root / "outcomes.csv", index=False)
    (root / "run_summary.json").write_text(
        json.dumps(
            {
                "run_id": RUN_ID,
                "command": "claim",
                "framework": {"name": "tf-phase2", "version": "2015-v3", "sha256": "ab" * 32},
                "inputs": [{"path": "/data/cohort/people.csv", "sha256": "cd" * 32, "rows": 120}],
            }
        ),
        encoding="utf-8",
    )
    return root


def register_of(routes: dict[str, int]) -> pd.DataFrame:
    rows = []
    for route, count in routes.items():
        for _ in range(count):
            i = len(rows) + 1
            rows.append({"claim_reference": f"TFC-{i:06d}", "family_id": f"{i:04d}", "route": route})
    return pd.DataFrame(rows, columns=["claim_reference", "family_id", "route"]).astype("str")


# --- sample size and allocation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("population", "rate", "min_n", "expected"),
    [
        (3, 0.10, 5, 3),  # fewer claims than the minimum: all of them
        (100, 0.10, 5, 10),
        (30, 0.10, 5, 5),  # minimum wins
        (51, 0.10, 5, 6),  # ceil(5.1)
        (10, 0.7, 0, 7),  # 0.7 * 10 is 7.000000000000001 in floating point: still 7
        (40, 1.0, 5, 40),
        (0, 0.10, 5, 0),
    ],
)
def test_sample_size(population: int, rate: float, min_n: int, expected: int) -> None:
    assert sample_size(population, rate, min_n) == expected


def test_largest_remainder_where_rounding_matters() -> None:
    # quotas 3.5, 1.0, 0.5: rounding each would give 4 + 1 + 0 (round-half-even) or 4 + 1 + 1 = 6;
    # largest remainder gives floors 3 + 1 + 0 and the one seat left to the tie sfo/ssp by name: sfo.
    sizes = {"ssp": 7, "continuous_employment": 2, "sfo": 1}
    assert allocate_largest_remainder(sizes, 5) == {"ssp": 3, "continuous_employment": 1, "sfo": 1}
    # quotas 2.6, 1.4, 1.0 -> floors 2, 1, 1; the seat left goes to the largest remainder (a)
    assert allocate_largest_remainder({"a": 13, "b": 7, "c": 5}, 5) == {"a": 3, "b": 1, "c": 1}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=4), st.data())
def test_allocation_is_proportional_and_sums_to_n(sizes: list[int], data: st.DataObject) -> None:
    strata = {f"r{i}": s for i, s in enumerate(sizes)}
    n = data.draw(st.integers(0, sum(sizes)))
    got = allocate_largest_remainder(strata, n)
    assert sum(got.values()) == n
    total = sum(sizes)
    for name, size in strata.items():
        quota = n * size / total if total else 0
        assert math.floor(quota) <= got[name] <= math.ceil(quota) <= size


def test_draw_stratified_with_discretionary_on_top() -> None:
    register = register_of({"ssp": 7, "continuous_employment": 2, "sfo": 1, "discretionary": 2})
    result = draw_sample(register, rate=0.10, min_n=5, seed=42)
    # N = 12 -> n = max(5, ceil(1.2)) = 5 drawn from the 10 non-discretionary claims, + both discretionary
    assert result.population_size == 12
    assert result.sample_size == 5
    assert len(result.sample) == 7
    counts = result.sample["stratum"].value_counts().to_dict()
    assert counts == {"ssp": 3, "continuous_employment": 1, "sfo": 1, "discretionary_all": 2}
    disc = register.loc[register["route"] == "discretionary", "claim_reference"]
    assert set(disc) <= set(result.sample["claim_reference"])
    assert result.sample["draw_order"].tolist() == list(range(1, 8))
    assert (result.sample["route"] == register.set_index("claim_reference").loc[result.sample["claim_reference"], "route"].to_numpy()).all()
    strata = result.strata.set_index("stratum")
    assert strata.loc["ssp"].tolist() == [7, 3, 3]
    assert strata.loc["discretionary_all"].tolist() == [2, 2, 2]


def test_population_below_minimum_takes_everything() -> None:
    register = register_of({"ssp": 2, "sfo": 1, "discretionary": 1})
    result = draw_sample(register, rate=0.10, min_n=5, seed=1)
    assert sorted(result.sample["claim_reference"]) == sorted(register["claim_reference"])
    assert result.sample_size == 3


def test_one_route_only_and_rate_one() -> None:
    one = draw_sample(register_of({"continuous_employment": 40}), rate=0.25, min_n=5, seed=7)
    assert len(one.sample) == 10 and set(one.sample["stratum"]) == {"continuous_employment"}
    everything = draw_sample(register_of({"ssp": 9, "sfo": 4, "discretionary": 3}), rate=1.0, min_n=5, seed=7)
    assert len(everything.sample) == 16
    assert everything.sample["claim_reference"].is_unique


def test_bad_arguments_are_input_errors() -> None:
    register = register_of({"ssp": 5})
    with pytest.raises(InputError, match="--sample-rate"):
        draw_sample(register, rate=0.0, min_n=5, seed=1)
    with pytest.raises(InputError, match="--sample-rate"):
        draw_sample(register, rate=1.5, min_n=5, seed=1)
    with pytest.raises(InputError, match="--sample-min"):
        draw_sample(register, rate=0.1, min_n=-1, seed=1)
    dup = pd.concat([register, register.head(1)], ignore_index=True)
    with pytest.raises(InputError, match="more than once"):
        draw_sample(dup, rate=0.1, min_n=5, seed=1)


# --- reproducibility --------------------------------------------------------------------------


def test_same_seed_same_sample_whatever_the_row_order() -> None:
    register = register_of({"ssp": 60, "continuous_employment": 25, "sfo": 15})
    a = draw_sample(register, 0.1, 5, seed=20250331).sample
    shuffled = register.sample(frac=1.0, random_state=3).reset_index(drop=True)
    b = draw_sample(shuffled, 0.1, 5, seed=20250331).sample
    pd.testing.assert_frame_equal(a, b)
    c = draw_sample(register, 0.1, 5, seed=20250332).sample
    assert a["claim_reference"].tolist() != c["claim_reference"].tolist()


def test_same_seed_same_sample_in_another_process(tmp_path: Path) -> None:
    register = register_of({"ssp": 60, "continuous_employment": 25, "sfo": 15, "discretionary": 2})
    path = tmp_path / "register.csv"
    register.sample(frac=1.0, random_state=9).to_csv(path, index=False)
    here = draw_sample(register, 0.1, 5, seed=987654321).sample["claim_reference"].tolist()
    code = (
        "import sys, pandas as pd; from tfclaims.spot_check.sample import draw_sample;"
        "r = pd.read_csv(sys.argv[1], dtype=str);"
        "print(','.join(draw_sample(r, 0.1, 5, seed=987654321).sample['claim_reference']))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, env=env, cwd=REPO)
    assert out.stdout.strip().split(",") == here


def test_no_seed_draws_and_records_one(tmp_path: Path) -> None:
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": 12})
    run = run_spot_check(claim_dir, tmp_path / "out")
    assert run.sample.seed_generated
    again = draw_sample(load_claim_dir(claim_dir).register, 0.1, 5, seed=run.sample.seed)
    pd.testing.assert_frame_equal(run.sample.sample, again.sample)
    assert f"--seed {run.sample.seed}" in run.command
    method = {r[0]: r[1] for r in load_workbook(run.workbook)["Method"].iter_rows(values_only=True) if r[0]}
    assert method["seed"] == str(run.sample.seed)
    assert method["seed chosen by"] == "generated at random"


# --- the workbook ------------------------------------------------------------------------------


@pytest.fixture
def spot(tmp_path: Path):
    """A claim run of 14 claims (2 discretionary) and its spot check, seed 11."""
    practitioner = {f"{i:04d}": FORMULA_NOTE for i in range(1, 15)}
    claim_dir = make_claim_dir(
        tmp_path / "claim",
        routes={"ssp": 8, "continuous_employment": 3, "sfo": 1, "discretionary": 2},
        practitioner=practitioner,
    )
    run = run_spot_check(claim_dir, tmp_path / "out", rate=0.10, min_n=5, seed=11)
    return claim_dir, run


def test_sample_csv_is_written_and_typed(spot) -> None:
    _, run = spot
    csv = pd.read_csv(run.sample_csv, dtype=str)
    assert list(csv.columns) == ["claim_reference", "family_id", "route", "stratum", "draw_order"]
    assert len(csv) == 7  # 5 drawn + 2 discretionary
    assert csv["family_id"].str.len().eq(4).all()  # leading zeros kept
    assert csv["claim_reference"].tolist() == run.sample.sample["claim_reference"].tolist()


def test_workbook_sheets_protection_and_dropdowns(spot) -> None:
    _, run = spot
    wb = load_workbook(run.workbook)
    visible = [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]
    assert visible == ["Sample", "Evidence", "Method", "Checklist"]
    assert wb["_control"].sheet_state == "veryHidden"
    ws = wb["Sample"]
    n = len(run.sample.sample)
    assert [c.value for c in ws[1]] == list(SAMPLE_HEADER)
    assert ws.max_row == n + 1
    assert ws.protection.sheet is True
    assert ws.protection.autoFilter is False and ws.protection.sort is False  # filter and sort allowed
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:O{n + 1}"
    for r in range(2, n + 2):
        for name in LOCKED_COLUMNS:
            assert ws[f"{COLUMN_LETTER[name]}{r}"].protection.locked is True, name
        for name in AUDITOR_COLUMNS:
            assert ws[f"{COLUMN_LETTER[name]}{r}"].protection.locked is False, name
    assert ws["A1"].protection.locked is True

    validations = {dv.formula1: dv for dv in ws.data_validations.dataValidation}
    yes_no = validations['"Y,N"']
    verdict = validations['"valid,invalid,query"']
    assert yes_no.type == "list" and verdict.type == "list"
    for r in range(2, n + 2):
        for name in ("eligible_confirmed", "whole_family_working_confirmed", "outcome_confirmed"):
            assert f"{COLUMN_LETTER[name]}{r}" in yes_no.sqref
        assert f"{COLUMN_LETTER['verdict']}{r}" in verdict.sqref
        assert f"{COLUMN_LETTER['notes']}{r}" not in verdict.sqref
    dates = [dv for dv in ws.data_validations.dataValidation if dv.type == "date"]
    assert dates and f"O{n + 1}" in dates[0].sqref


def test_workbook_values_text_dates_and_neutralised_formulas(spot) -> None:
    claim_dir, run = spot
    ws = load_workbook(run.workbook)["Sample"]
    first = run.sample.sample.iloc[0]
    assert ws["A2"].value == first["claim_reference"]
    assert ws["B2"].value == first["family_id"] and ws["B2"].data_type == "s" and ws["B2"].number_format == "@"
    assert isinstance(ws["D2"].value, dt.datetime) and ws["D2"].value.date() == dt.date(2023, 5, 2)
    # the practitioner's name looked like a formula: written as text, prefixed
    assert ws["F2"].value == "'" + FORMULA_NOTE
    assert ws["F2"].data_type == "s"
    assert ws["H2"].value == "crime_asb: met; education: met"
    # no cell anywhere in the workbook is a formula
    wb = load_workbook(run.workbook)
    assert not any(c.data_type == "f" for s in wb.worksheets for row in s.iter_rows() for c in row)


def test_evidence_method_and_checklist(spot) -> None:
    _, run = spot
    wb = load_workbook(run.workbook)
    ev = pd.DataFrame(list(wb["Evidence"].iter_rows(min_row=2, values_only=True)), columns=[c.value for c in wb["Evidence"][1]])
    families = set(run.sample.sample["family_id"])
    assert set(ev["family_id"]) == families
    # per family: 2 eligibility rows, 2 outcome rows, 1 claim decision
    assert ev.groupby("family_id").size().eq(5).all()
    assert ev["evidence"].value_counts().to_dict() == {
        "eligibility at attachment": 2 * len(families),
        "outcome": 2 * len(families),
        "claim decision": len(families),
    }
    keys = list(zip(ev["family_id"], ev["headline"].fillna("~")))
    assert keys == sorted(keys)  # by family, then headline
    assert ev["source_row"].map(type).eq(int).all() and ev["source_file"].notna().all()

    method = {r[0]: r[1] for r in wb["Method"].iter_rows(values_only=True) if r[0]}
    assert method["population (claims in the run), N"] == 14
    assert method["seed"] == "11"
    assert "--seed 11" in method["command that reproduces the draw"]
    assert method["framework"] == "tf-phase2"
    assert "cd" * 32 in [r[1] for r in wb["Method"].iter_rows(values_only=True)]
    checklist = [r for r in wb["Checklist"].iter_rows(min_row=4, values_only=True) if r[0]]
    assert [r[0] for r in checklist] == ["1", "2", "3"]
    assert "eligible" in checklist[0][1] and "whole-family" in checklist[1][1] and "outcome" in checklist[2][1]


def test_missing_file_or_column_names_the_file(tmp_path: Path) -> None:
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": 3})
    (claim_dir / "outcomes.csv").unlink()
    with pytest.raises(InputError, match="outcomes.csv"):
        load_claim_dir(claim_dir)
    claim_dir = make_claim_dir(tmp_path / "claim2", routes={"ssp": 3})
    reg = pd.read_csv(claim_dir / "claim_register.csv", dtype=str).drop(columns="lead_practitioner")
    reg.to_csv(claim_dir / "claim_register.csv", index=False)
    with pytest.raises(InputError, match=r"claim_register.csv: missing column\(s\): lead_practitioner"):
        load_claim_dir(claim_dir)


def test_bad_numbers_and_dates_in_the_claim_folder_name_file_row_and_column(tmp_path: Path) -> None:
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": 3})
    ev = pd.read_csv(claim_dir / "eligibility_evidence.csv", dtype=str, keep_default_na=False)
    ev.loc[1, "source_row"] = "12.5"
    ev.to_csv(claim_dir / "eligibility_evidence.csv", index=False)
    with pytest.raises(InputError, match=r"eligibility_evidence.csv, row 3, column source_row: '12.5' is not a whole number"):
        load_claim_dir(claim_dir)
    claim_dir = make_claim_dir(tmp_path / "claim2", routes={"ssp": 3})
    reg = pd.read_csv(claim_dir / "claim_register.csv", dtype=str, keep_default_na=False)
    reg.loc[0, "attached_on"] = "31/03/2019"
    reg.to_csv(claim_dir / "claim_register.csv", index=False)
    with pytest.raises(InputError, match=r"claim_register.csv, row 2, column attached_on: '31/03/2019' is not an ISO date"):
        load_claim_dir(claim_dir)


# --- filling the workbook and reading it back -------------------------------------------------


def fill(path: Path, verdicts: dict[int, tuple], *, edits: dict[str, object] | None = None) -> None:
    """Fill sample rows (sheet row -> (Y/N, Y/N, Y/N, verdict, notes, checked_by, checked_on)) as an auditor would."""
    wb = load_workbook(path)
    ws = wb["Sample"]
    for r, values in verdicts.items():
        for name, value in zip(AUDITOR_COLUMNS, values, strict=True):
            ws[f"{COLUMN_LETTER[name]}{r}"] = value
    for ref, value in (edits or {}).items():
        ws[ref] = value
    wb.save(path)


def all_valid(n: int) -> dict[int, tuple]:
    return {r: ("Y", "Y", "Y", "valid", None, "J. Auditor", dt.date(2025, 4, 10)) for r in range(2, n + 2)}


def test_read_verdicts_valid_workbook(spot) -> None:
    _, run = spot
    n = len(run.sample.sample)
    rows = all_valid(n)
    rows[3] = ("N", "Y", "Y", "invalid", "attendance data for the wrong term", "J. Auditor", "11/04/2025")
    rows[4] = ("Y", None, None, "query", "case notes not found", "J. Auditor", dt.date(2025, 4, 12))
    fill(run.workbook, rows)
    v = read_verdicts(run.workbook)
    assert len(v) == n
    assert v["verdict"].value_counts().to_dict() == {"valid": n - 2, "invalid": 1, "query": 1}
    assert v.loc[v["sheet_row"] == 3, "checked_on"].iloc[0] == pd.Timestamp("2025-04-11")
    assert pd.api.types.is_string_dtype(v["family_id"]) and v["family_id"].str.len().eq(4).all()
    assert v.attrs["population_size"] == 14 and v.attrs["seed"] == "11"


@pytest.mark.parametrize(
    ("row", "values", "edits", "message"),
    [
        (7, ("Y", "Y", "Y", None, None, "J. Auditor", dt.date(2025, 4, 10)), {}, "cell L7: verdict missing"),
        (
            7,
            ("Y", "Y", "Y", "maybe", None, "J. Auditor", dt.date(2025, 4, 10)),
            {},
            "spot_check.xlsx, sheet Sample, cell L7: verdict 'maybe' is not one of valid, invalid, query",
        ),
        (5, ("Y", "X", "Y", "valid", None, "J. Auditor", dt.date(2025, 4, 10)), {}, "cell J5: whole_family_working_confirmed 'X' is not one of Y, N"),
        (4, ("Y", "Y", "Y", "invalid", None, "J. Auditor", dt.date(2025, 4, 10)), {}, "cell M4: notes missing"),
        (6, ("Y", "Y", "Y", "valid", None, None, dt.date(2025, 4, 10)), {}, "cell N6: checked_by missing"),
        (6, ("Y", "Y", "Y", "valid", None, "J. Auditor", "last week"), {}, "cell O6: checked_on 'last week' is not a date"),
        (3, ("Y", "Y", "N", "valid", None, "J. Auditor", dt.date(2025, 4, 10)), {}, "cell K3: outcome_confirmed is 'N' but the verdict is 'valid'"),
        (2, all_valid(1)[2], {"F3": "Someone Else"}, "cell F3: locked cell lead_practitioner"),
        (2, all_valid(1)[2], {"B4": "9999"}, "cell B4: locked cell family_id"),
        (2, all_valid(1)[2], {"A5": "TFC-999999"}, "cell A5: claim reference 'TFC-999999' is not one of the sampled claims"),
    ],
)
def test_read_verdicts_errors_name_the_cell(spot, row: int, values: tuple, edits: dict, message: str) -> None:
    _, run = spot
    rows = all_valid(len(run.sample.sample))
    rows[row] = values
    fill(run.workbook, rows, edits=edits)
    with pytest.raises(InputError) as err:
        read_verdicts(run.workbook)
    assert message in str(err.value)


def test_deleted_row_is_reported(spot) -> None:
    _, run = spot
    fill(run.workbook, all_valid(len(run.sample.sample)))
    wb = load_workbook(run.workbook)
    ref = wb["Sample"]["A8"].value
    wb["Sample"].delete_rows(8)
    wb.save(run.workbook)
    with pytest.raises(InputError, match=f"sampled claim {ref} is missing"):
        read_verdicts(run.workbook)


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(0, 10, 0.0, 0.2775), (2, 26, 0.0214, 0.2414), (1, 7, 0.0257, 0.5131), (5, 5, 0.5655, 1.0)],
)
def test_wilson_interval(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)
    # independently: the bounds are the roots p of (p_hat - p)^2 = z^2 p (1 - p) / n
    z = 1.959964
    p_hat = k / n
    roots = sorted(np.roots([1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat]).real)
    assert got == pytest.approx((max(0.0, roots[0]), min(1.0, roots[1])), abs=1e-9)
    assert wilson_interval(0, 0) == (0.0, 1.0)


# --- reconciling into the ledger ---------------------------------------------------------------

def ledger_with_claims(tmp_path: Path, routes: dict[str, int]) -> tuple[Path, list[tuple[str, str, str]]]:
    path = tmp_path / "ledger.sqlite"
    families = [(f"{i + 1:04d}", route) for i, route in enumerate(r for r, c in routes.items() for _ in range(c))]
    candidates = pd.DataFrame(
        {"family_id": [f for f, _ in families], "route": [r for _, r in families], "amount_pence": 80000}
    ).astype({"family_id": "str", "route": "str"})
    with Ledger.open(path) as led:
        for family, route in families:
            if route == "discretionary":
                led.approve(family, "tf-phase2", by="A. Manager", reason="met most measures")
        result = led.record_claims(
            run_id=RUN_ID, framework="tf-phase2", period_end=dt.date(2025, 3, 31), candidates=candidates, allocation=None
        )
    claimed = result.claimed
    return path, list(zip(claimed["claim_reference"], claimed["family_id"], claimed["route"], strict=True))


def test_reconcile_valid_invalid_query_and_idempotent(tmp_path: Path) -> None:
    ledger_path, claims = ledger_with_claims(tmp_path, {"ssp": 20, "continuous_employment": 6, "discretionary": 1})
    claim_dir = make_claim_dir(tmp_path / "claim", claims)
    run = run_spot_check(claim_dir, tmp_path / "out", rate=0.1, min_n=5, seed=5)
    n = len(run.sample.sample)
    assert n == 6  # max(5, ceil(2.7)) + 1 discretionary
    rows = all_valid(n)
    rows[2] = ("N", "Y", "Y", "invalid", "not eligible at attachment: absence was after the date", "J. Auditor", dt.date(2025, 4, 11))
    rows[3] = ("Y", "Y", None, "query", "awaiting employment evidence from DWP", "J. Auditor", dt.date(2025, 4, 11))
    fill(run.workbook, rows)
    invalid_ref = load_workbook(run.workbook)["Sample"]["A2"].value
    query_ref = load_workbook(run.workbook)["Sample"]["A3"].value

    verdicts = read_verdicts(run.workbook)
    with Ledger.open(ledger_path) as led:
        result = reconcile(verdicts, led, "R. Officer", on=dt.date(2025, 4, 14))
        book = led.claims().set_index("claim_reference")
        held = led.held_families("tf-phase2")
    assert result.withdrawn_now == [invalid_ref]
    assert book.at[invalid_ref, "status"] == "withdrawn"
    assert "absence was after the date" in book.at[invalid_ref, "withdrawal_reason"]
    assert book.at[invalid_ref, "withdrawn_by"] == "R. Officer"
    assert book.at[invalid_ref, "family_id"] in held  # audit hold
    assert book.at[query_ref, "status"] == "claimed" and book.at[query_ref, "verdict"] == "query"
    sampled = set(verdicts["claim_reference"])
    assert book.loc[list(sampled), "verdict"].notna().all()
    assert book.loc[~book.index.isin(sampled), "verdict"].isna().all()
    assert result.open_queries["claim_reference"].tolist() == [query_ref]
    assert not result.may_go_forward and "1 open query" in result.blockers[0]
    assert result.error_rate == pytest.approx(1 / 6)
    lo, hi = wilson_interval(1, 6)
    assert result.projected_invalid == pytest.approx((27 / 6, lo * 27, hi * 27))
    actions = result.table.set_index("claim_reference")["action"]
    assert actions[invalid_ref] == "withdrawn" and actions[query_ref] == "open_query"

    csv_path, json_path = write_reconciliation(result, tmp_path / "rec")
    written = pd.read_csv(csv_path, dtype=str)
    assert list(written.columns) == ["claim_reference", "family_id", "route", "verdict", "notes", "checked_by", "checked_on", "action"]
    summary = json.loads(json_path.read_text())
    assert summary["invalid"] == 1 and summary["open_queries"][0]["claim_reference"] == query_ref
    assert summary["may_go_forward"] is False

    # the same workbook again: nothing withdrawn twice, nothing re-recorded
    with Ledger.open(ledger_path) as led:
        again = reconcile(read_verdicts(run.workbook), led, "R. Officer", on=dt.date(2025, 4, 15))
        book2 = led.claims().set_index("claim_reference")
    assert again.withdrawn_now == [] and again.already_withdrawn == [invalid_ref]
    assert set(again.table["action"]) <= {"already_recorded", "already_withdrawn", "open_query"}
    assert book2.at[invalid_ref, "withdrawn_on"] == pd.Timestamp("2025-04-14")


def test_cli_spot_check_and_reconcile(tmp_path: Path) -> None:
    ledger_path, claims = ledger_with_claims(tmp_path, {"ssp": 8, "sfo": 2})
    claim_dir = make_claim_dir(tmp_path / "claim", claims)
    out = tmp_path / "out"
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none"}
    cli = [sys.executable, "-m", "tfclaims"]
    done = subprocess.run(
        [*cli, "spot-check", "--claim-dir", str(claim_dir), "--out", str(out), "--seed", "3"],
        capture_output=True, text=True, env=env, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "seed: 3 (given" in done.stdout
    workbook = out / "spot_check.xlsx"
    rows = all_valid(5)
    rows[6] = ("Y", "Y", "Y", "maybe", None, "J. Auditor", dt.date(2025, 4, 10))
    fill(workbook, rows)
    reconcile_args = [*cli, "reconcile", "--verdicts", str(workbook), "--ledger", str(ledger_path), "--out", str(out), "--operator", "R. Officer"]
    bad = subprocess.run(reconcile_args, capture_output=True, text=True, env=env, cwd=REPO)
    assert bad.returncode == 2
    assert "cell L6: verdict 'maybe' is not one of valid, invalid, query" in bad.stderr
    with Ledger.open(ledger_path) as led:
        assert led.claims()["verdict"].isna().all()  # nothing written
    assert not (out / "reconciliation.csv").exists()

    rows[6] = ("Y", "Y", "Y", "valid", None, "J. Auditor", dt.date(2025, 4, 10))
    fill(workbook, rows)
    good = subprocess.run(reconcile_args, capture_output=True, text=True, env=env, cwd=REPO)
    assert good.returncode == 0, good.stderr
    assert "The claim may go forward." in good.stdout
    assert "Sample error rate 0.0% (95% Wilson interval 0.0% to 43.4%)" in good.stdout
    assert (out / "reconciliation.csv").exists() and (out / "reconciliation.json").exists()


def test_empty_claim_run_writes_header_only_files(tmp_path: Path) -> None:
    claim_dir = make_claim_dir(tmp_path / "claim", [])
    run = run_spot_check(claim_dir, tmp_path / "out", seed=1)
    assert run.sample.population_size == 0 and run.sample.total == 0
    assert pd.read_csv(run.sample_csv).empty
    ws = load_workbook(run.workbook)["Sample"]
    assert [c.value for c in ws[1]] == list(SAMPLE_HEADER) and ws.max_row == 1
    assert read_verdicts(run.workbook).empty


def test_rows_sorted_by_the_auditor_still_read(spot) -> None:
    """Matching is by claim reference, not row position: a sort (here, two rows swapped) is fine."""
    _, run = spot
    fill(run.workbook, all_valid(len(run.sample.sample)))
    wb = load_workbook(run.workbook)
    ws = wb["Sample"]
    for c in range(1, len(SAMPLE_HEADER) + 1):
        a, b = ws.cell(row=2, column=c), ws.cell(row=3, column=c)
        a.value, b.value = b.value, a.value
    wb.save(run.workbook)
    v = read_verdicts(run.workbook)
    assert v.loc[v["sheet_row"] == 2, "claim_reference"].iloc[0] == run.sample.sample["claim_reference"].iloc[1]


def test_reconcile_refuses_claims_not_in_the_ledger(tmp_path: Path) -> None:
    ledger_path, claims = ledger_with_claims(tmp_path, {"ssp": 6})
    strangers = [(f"TFC-9{i:05d}", fam, route) for i, (_, fam, route) in enumerate(claims)]
    run = run_spot_check(make_claim_dir(tmp_path / "claim", strangers), tmp_path / "out", seed=2)
    fill(run.workbook, all_valid(len(run.sample.sample)))
    with Ledger.open(ledger_path) as led:
        with pytest.raises(InputError, match="is not in the ledger"):
            reconcile(read_verdicts(run.workbook), led, "R. Officer")
        assert led.claims()["verdict"].isna().all()


# --- the xlsxwriter workbook: structure, formats, awkward text, size ---------------------------


def test_workbook_structure_locked_hidden_sheets_and_evidence_sheet(spot) -> None:
    _, run = spot
    wb = load_workbook(run.workbook)
    assert wb.security is not None and wb.security.lockStructure is True  # sheets cannot be unhidden or renamed
    assert wb["_meta"].sheet_state == "veryHidden"
    assert wb.active.title == "Sample"
    for name in ("Sample", "Evidence", "Method", "Checklist", "_control", "_meta"):
        assert wb[name].protection.sheet is True, name
    ev = wb["Evidence"]
    rows = ev.max_row - 1
    assert rows == 5 * run.sample.total
    assert ev.freeze_panes == "A2" and ev.auto_filter.ref == f"A1:K{rows + 1}"
    assert ev.protection.autoFilter is False and ev.protection.sort is False
    header = [c.value for c in ev[1]]
    for r in range(2, rows + 2):
        family = ev.cell(row=r, column=header.index("family_id") + 1)
        assert family.data_type == "s" and family.number_format == "@" and len(family.value) == 4  # leading zeros
        event = ev.cell(row=r, column=header.index("event_date") + 1)
        assert isinstance(event.value, dt.datetime) and event.number_format == "yyyy-mm-dd"
        assert type(ev.cell(row=r, column=header.index("source_row") + 1).value) is int
    decisions = [r for r in ev.iter_rows(min_row=2, values_only=True) if r[header.index("evidence")] == "claim decision"]
    assert {r[header.index("headline")] for r in decisions} == {None}  # missing is a blank cell, not "nan"
    ws = wb["Sample"]
    assert ws["I2"].number_format == "@" and ws["O2"].number_format == "yyyy-mm-dd"
    closed = [ws[f"E{r}"] for r in range(2, run.sample.total + 2) if ws[f"E{r}"].value is not None]
    assert closed and all(c.number_format == "yyyy-mm-dd" and isinstance(c.value, dt.datetime) for c in closed)
    assert wb["Method"]["B1"].value is None and isinstance(
        {r[0]: r[1] for r in wb["Method"].iter_rows(values_only=True) if r[0]}["produced on"], dt.datetime
    )
    control = list(wb["_control"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in control] == run.sample.sample["claim_reference"].tolist()
    assert [r[1] for r in control] == list(range(2, run.sample.total + 2))


AWKWARD_NAMES = (
    " padded ",  # spaces kept
    "two\nlines",
    "carriage\r\nreturn",  # stored as _x000D_ and read back so by openpyxl
    "_x0041_ looks like an escape",  # xlsxwriter writes _x005F_x0041_
    "Zoë 😀",
    "\tTab first",  # neutralised
    "bell\x07inside",  # a control character (openpyxl could not write it at all)
    "0012",
    "http://example.com/not-a-link",
)


def test_awkward_locked_text_reads_back_unchanged_and_edits_are_still_caught(tmp_path: Path) -> None:
    practitioner = {f"{i:04d}": name for i, name in enumerate(AWKWARD_NAMES, start=1)}
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": len(AWKWARD_NAMES)}, practitioner=practitioner)
    run = run_spot_check(claim_dir, tmp_path / "out", rate=1.0, min_n=0, seed=4)
    ws = load_workbook(run.workbook)["Sample"]
    by_family = {ws[f"B{r}"].value: ws[f"F{r}"] for r in range(2, len(AWKWARD_NAMES) + 2)}
    assert by_family["0001"].value == " padded "
    assert by_family["0006"].value == "'\tTab first"
    assert by_family["0008"].value == "0012" and by_family["0008"].data_type == "s"
    assert by_family["0009"].hyperlink is None
    fill(run.workbook, all_valid(len(AWKWARD_NAMES)))
    assert len(read_verdicts(run.workbook)) == len(AWKWARD_NAMES)
    fill(run.workbook, {}, edits={"F3": ws["F3"].value + " "})  # one trailing space added to a locked cell
    with pytest.raises(InputError, match="cell F3: locked cell lead_practitioner"):
        read_verdicts(run.workbook)


def test_large_sample_writes_quickly_and_reads_back(tmp_path: Path) -> None:
    """2,000 sampled claims with 11 evidence rows each: written in seconds, filled with openpyxl as an
    auditor's tool would, read back in full."""
    claims = 2_000
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": 1_700, "continuous_employment": 250, "sfo": 50})
    for name, copies in (("eligibility_evidence.csv", 3), ("outcome_evidence.csv", 2)):
        evidence = pd.read_csv(claim_dir / name, dtype=str)
        more = [evidence.assign(person_id=evidence["person_id"] + f"-{k}") for k in range(copies)]
        pd.concat(more, ignore_index=True).to_csv(claim_dir / name, index=False)
    loaded = load_claim_dir(claim_dir)
    sample = draw_sample(loaded.register, rate=1.0, min_n=0, seed=8)
    assert sample.total == claims
    started = time.perf_counter()
    workbook = write_workbook(loaded, sample, tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert elapsed < 15, f"write_workbook took {elapsed:.1f} s for {claims} claims"  # a sanity bound (~1.5 s here)

    wb = load_workbook(workbook)
    assert wb["Evidence"].max_row == 1 + claims * (6 + 4 + 1)
    ws = wb["Sample"]
    assert ws.max_row == claims + 1
    for r in range(2, claims + 2):
        verdict = "invalid" if r % 500 == 0 else "valid"
        values = ("N" if verdict == "invalid" else "Y", "Y", "Y", verdict, "no plan found" if verdict == "invalid" else None)
        for name, value in zip(AUDITOR_COLUMNS, (*values, "J. Auditor", dt.date(2025, 4, 10)), strict=True):
            ws[f"{COLUMN_LETTER[name]}{r}"] = value
    wb.save(workbook)

    verdicts = read_verdicts(workbook)
    assert len(verdicts) == claims
    assert verdicts["verdict"].value_counts().to_dict() == {"valid": claims - 4, "invalid": 4}
    assert set(verdicts["claim_reference"]) == set(sample.sample["claim_reference"])
    assert verdicts["family_id"].str.len().eq(4).all()
    assert verdicts.attrs["population_size"] == claims


def test_an_existing_workbook_that_cannot_be_read_counts_as_started(tmp_path: Path) -> None:
    claim_dir = make_claim_dir(tmp_path / "claim", routes={"ssp": 6})
    out = tmp_path / "out"
    out.mkdir()
    (out / "spot_check.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(InputError, match=r"spot_check\.xlsx: already exists and it cannot be read"):
        run_spot_check(claim_dir, out, seed=1)
    assert sorted(p.name for p in out.iterdir()) == ["spot_check.xlsx"]  # no sample CSV written
    assert (out / "spot_check.xlsx").read_bytes() == b"not a workbook"


def test_check_workbook_not_started_reads_every_auditor_column(spot) -> None:
    from tfclaims.spot_check import check_workbook_not_started

    _, run = spot
    check_workbook_not_started(run.workbook.parent)  # untouched: no error
    for name in AUDITOR_COLUMNS:
        fill(run.workbook, {}, edits={f"{COLUMN_LETTER[name]}4": "x"})
        with pytest.raises(InputError, match=f"row 4: {name} filled in"):
            check_workbook_not_started(run.workbook)
        fill(run.workbook, {}, edits={f"{COLUMN_LETTER[name]}4": None})
    fill(run.workbook, {}, edits={f"{COLUMN_LETTER['notes']}4": "   "})  # only spaces: still blank
    check_workbook_not_started(run.workbook)
