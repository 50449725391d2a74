"""Local data without new code: the local tables (``local_events``, ``local_spells``) and the plan's ``local_codes``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tfclaims.cli import main
from tfclaims.core.errors import ConfigError
from tfclaims.core.local_codes import NO_CODES, NO_PLAN_MESSAGE, DeclaredCodes
from tfclaims.core.resources import LOCAL_PLANS_DIR, SAMPLE_COHORT_DIR
from tfclaims.ingest.validate import ingest
from tfclaims.link.passes import link
from tfclaims.rules.frameworks import list_frameworks, load_framework, load_plan
from tfclaims.schemas.inputs import EVENT_TABLES, FAMILY_EVENT_TABLES, LOCAL_TABLES, NATIONAL_TABLES, TABLES
from tfclaims.synth.generate import generate_cohort, write_cohort

PLAN = LOCAL_PLANS_DIR / "example-council.yaml"
KEY = "test-council-secret"

LOCAL_EVENTS = """person_id,family_id,upn,event_date,source,code,value
P0000001,,,2019-05-01,Early help system,MASH_CONTACT,
,F000002,,02/06/2019,Foodbank network,foodbank,3
P0000003,,,2019-07-01,Early help system,MASHX,
P0000004,,,2019-07-01,,CSE_FLAG,-1.5
"""
LOCAL_SPELLS = """person_id,code,start_date,end_date,source
P0000001,NEET,2019-01-01,,16-18 tracking
P0000002,NEET,2019-03-01,2019-02-01,16-18 tracking
P0000003,MASH_CONTACT,2019-03-01,2019-04-01,16-18 tracking
"""


def _cohort(tmp_path: Path, events: str = LOCAL_EVENTS, spells: str = LOCAL_SPELLS) -> Path:
    folder = tmp_path / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, folder, ignore=shutil.ignore_patterns("synth"))
    (folder / "local_events.csv").write_text(events, encoding="utf-8")
    (folder / "local_spells.csv").write_text(spells, encoding="utf-8")
    return folder


def _errors(result, table: str) -> pd.DataFrame:
    return result.errors[result.errors["table"] == table]


def _count(result, table: str):
    return next(c for c in result.counts if c.table == table)


def _reconciles(result) -> None:
    for c in result.counts:
        assert c.read == c.accepted + c.quarantined, c
        assert _errors(result, c.table)["row"].nunique() == c.quarantined, c


# --- the contract ----------------------------------------------------------------------------------


def test_the_local_tables_are_event_tables_of_the_contract_after_the_national_ones():
    assert TABLES[-2:] == LOCAL_TABLES == ("local_events", "local_spells")
    assert NATIONAL_TABLES == TABLES[:-2]
    assert set(LOCAL_TABLES) <= set(EVENT_TABLES)
    assert FAMILY_EVENT_TABLES == ("housing", "local_events")


def test_the_local_tables_are_read_typed_and_validated_against_the_plan(tmp_path):
    r = ingest(_cohort(tmp_path), local_codes=load_plan(PLAN).declared_local_codes())
    events, spells = r.cohort["local_events"], r.cohort["local_spells"]
    assert events["event_date"].dtype == "datetime64[ns]" and str(events["value"].dtype) == "Float64"
    assert events["code"].tolist() == ["MASH_CONTACT", "FOODBANK"]  # codes as the plan spells them
    assert events["event_date"].tolist() == [pd.Timestamp("2019-05-01"), pd.Timestamp("2019-06-02")]
    assert events["source_row"].tolist() == [2, 3] and set(events["source_file"]) == {"local_events.csv"}
    assert spells["code"].tolist() == ["NEET"] and spells["end_date"].isna().all()  # open when blank
    e = _errors(r, "local_events").set_index("row")
    assert e.loc[4, "check"] == "declared_local_code"
    assert e.loc[4, "message"] == ("code 'MASHX' is not declared by the local plan example-council "
                                   "(declared for local_events: MASH_CONTACT, CSE_FLAG, FOODBANK)")
    assert e.loc[5, "column"] == "source" and e.loc[5, "check"] == "required"  # a negative value is allowed
    s = _errors(r, "local_spells").set_index("row")
    assert s.loc[3, "check"] == "end_not_before_start"
    assert s.loc[4, "message"] == ("code 'MASH_CONTACT' is not declared by the local plan example-council "
                                   "(declared for local_spells: NEET)")
    assert (_count(r, "local_events").accepted, _count(r, "local_events").quarantined) == (2, 2)
    assert (_count(r, "local_spells").accepted, _count(r, "local_spells").quarantined) == (1, 2)
    _reconciles(r)


@pytest.mark.parametrize("codes", [NO_CODES, load_framework().declared_local_codes(), DeclaredCodes("p", {"local_events": ()})])
def test_without_a_plans_local_codes_every_local_row_is_quarantined(tmp_path, codes):
    r = ingest(_cohort(tmp_path), local_codes=codes)
    for table in LOCAL_TABLES:
        assert len(r.cohort[table]) == 0
        assert NO_PLAN_MESSAGE in set(_errors(r, table)["message"])
    assert _count(r, "local_events").quarantined == 4 and _count(r, "local_spells").quarantined == 3
    _reconciles(r)


def test_a_header_only_local_table_is_supplied_empty(tmp_path):
    r = ingest(_cohort(tmp_path, "person_id,event_date,source,code\n", "person_id,code,start_date,end_date,source\n"))
    assert all(r.cohort.supplied(t) and len(r.cohort[t]) == 0 for t in LOCAL_TABLES)
    _reconciles(r)


# --- the plan's local_codes --------------------------------------------------------------------------


def test_the_example_plan_declares_its_local_codes_and_built_in_frameworks_none():
    fw = load_plan(PLAN)
    assert [(c.code, c.table) for c in fw.local_codes] == [
        ("MASH_CONTACT", "local_events"), ("CSE_FLAG", "local_events"), ("NEET", "local_spells"), ("FOODBANK", "local_events")]
    assert fw.declared_local_codes() == DeclaredCodes("example-council", {
        "local_events": ("MASH_CONTACT", "CSE_FLAG", "FOODBANK"), "local_spells": ("NEET",)})
    assert all(load_framework(name).local_codes == () for name in list_frameworks())


def _plan_with(tmp_path: Path, local_codes: list) -> Path:
    data = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    data["local_codes"] = local_codes
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


GOOD = {"code": "A", "description": "a", "table": "local_events", "headlines": ["education"]}


@pytest.mark.parametrize(("entries", "where"), [
    ([GOOD, {**GOOD, "code": "B", "colour": "red"}], "local_codes[1].colour: unknown key"),
    ([GOOD, {**GOOD, "code": "B"}, {**GOOD, "code": "a"}], "local_codes[2].code: 'a' is already declared at local_codes[0]"),
    ([GOOD, {**GOOD, "code": "B"}, {**GOOD, "code": "C", "table": "housing"}], "local_codes[2].table: 'housing' is not a local table"),
    ([{**GOOD, "headlines": ["education", "school"]}], "local_codes[0].headlines[1]: 'school' is not a headline of the framework"),
    ([{**GOOD, "description": None}], "local_codes[0].description"),
    ([{k: v for k, v in GOOD.items() if k != "table"}], "local_codes[0].table: Field required"),
])
def test_a_bad_local_codes_section_is_refused_naming_the_plan_and_the_key_path(tmp_path, entries, where):
    path = _plan_with(tmp_path, entries)
    with pytest.raises(ConfigError) as exc:
        load_plan(path)
    assert str(path) in str(exc.value) and where in str(exc.value)


def test_a_bad_local_codes_section_stops_validate_before_any_data_is_read(tmp_path, monkeypatch, capsys):
    path = _plan_with(tmp_path, [GOOD, GOOD])
    read = []
    monkeypatch.setattr("tfclaims.pipeline.ingest", lambda *a, **k: read.append(a))
    code = _cli("validate", "--input", str(SAMPLE_COHORT_DIR), "--plan", str(path), "--out", str(tmp_path / "out"),
                "--audit", str(tmp_path / "audit.jsonl"))
    assert code == 2 and not read
    assert "local_codes[1].code" in capsys.readouterr().err


# --- link ------------------------------------------------------------------------------------------------


def test_local_rows_are_linked_like_other_event_tables(tmp_path):
    people = pd.read_csv(SAMPLE_COHORT_DIR / "people.csv", dtype=str)
    p = people[people["nhs_number"].notna()].iloc[0]
    events = ("nhs_number,family_id,event_date,source,code\n"
              f"{p['nhs_number']},,2019-05-01,Early help system,MASH_CONTACT\n"
              f",{p['family_id']},2019-05-01,Foodbank network,FOODBANK\n"
              "9434765919,,2019-05-01,Early help system,CSE_FLAG\n")
    spells = f"nhs_number,code,start_date,end_date,source\n{p['nhs_number']},NEET,2019-01-01,,16-18 tracking\n"
    r = ingest(_cohort(tmp_path, events, spells), local_codes=load_plan(PLAN).declared_local_codes())
    assert _count(r, "local_events").accepted == 3
    linked = link(r.cohort)
    ev = linked.cohort["local_events"]
    assert ev["person_id"].tolist()[0] == p["person_id"] and ev["link_method"].tolist()[0] == "nhs_number"
    assert ev["family_id"].tolist()[1] == p["family_id"] and pd.isna(ev["person_id"].tolist()[1])  # a household's event
    assert len(ev) == 2 and linked.counts.loc["local_events", "unmatched"] == 1
    assert linked.counts.loc["local_events", "family_only"] == 1
    assert linked.cohort["local_spells"]["person_id"].tolist() == [p["person_id"]]


# --- synth -----------------------------------------------------------------------------------------------


def test_synth_writes_local_tables_only_when_asked_and_they_validate(tmp_path):
    codes = load_plan(PLAN).declared_local_codes()
    plain = generate_cohort(40, 7)
    local = generate_cohort(40, 7, local_codes=codes)
    assert tuple(plain.tables) == NATIONAL_TABLES
    assert all(local.tables[t].equals(plain.tables[t]) for t in NATIONAL_TABLES)  # the national tables unchanged
    again = generate_cohort(40, 7, local_codes=codes)
    assert all(again.tables[t].equals(local.tables[t]) for t in LOCAL_TABLES)  # seeded
    assert set(local.tables["local_events"]["code"]) <= set(codes.for_table("local_events"))
    assert local.tables["local_events"]["family_id"].notna().any() and local.tables["local_spells"]["end_date"].isna().any()
    write_cohort(local, tmp_path / "c")
    r = ingest(tmp_path / "c", local_codes=codes)
    assert all(_count(r, t).accepted == len(local.tables[t]) > 0 and _count(r, t).quarantined == 0 for t in LOCAL_TABLES)
    write_cohort(plain, tmp_path / "c")  # a cohort without local tables leaves none of the earlier one
    assert not any((tmp_path / "c" / f"{t}.csv").exists() for t in LOCAL_TABLES)


def test_synth_cli_local_codes(tmp_path, capsys):
    assert _cli("synth", "--families", "20", "--seed", "1", "--out", str(tmp_path / "s"), "--local-codes") == 0
    assert "in 15 tables" in capsys.readouterr().out
    assert "--local-codes" in (tmp_path / "s" / "synth" / "README.md").read_text(encoding="utf-8")


# --- end to end ----------------------------------------------------------------------------------------


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def _claim(tmp_path: Path, cohort: Path, name: str) -> pd.DataFrame:
    out = tmp_path / name
    assert _cli("claim", "--input", str(cohort), "--plan", str(PLAN), "--period-end", "2020-03-31", "--out", str(out),
                "--dry-run", "--audit", str(tmp_path / "audit.jsonl")) == 0
    return pd.read_csv(out / "claim_decisions.csv", dtype=str)


def test_a_run_with_the_local_tables_exits_0_with_decisions_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    with_local = _claim(tmp_path, _cohort(tmp_path), "with")
    without = _claim(tmp_path, SAMPLE_COHORT_DIR, "without")
    pd.testing.assert_frame_equal(with_local, without)
    accepted = pd.read_parquet(tmp_path / "with" / "accepted" / "local_events.parquet")
    assert accepted["code"].tolist() == ["MASH_CONTACT", "FOODBANK"]
