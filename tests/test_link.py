"""The link stage: exact identifiers, names + dob, Splink, review decisions, reconciled counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tfclaims.schemas.link import LinkedEventColumns, Unmatched, validate_unmatched
from tfclaims.core.cohort import EVENT_TABLES, Cohort
from tfclaims.core.config import LinkageSettings
from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import ni_number_valid, nhs_number_valid, upn_valid
from tfclaims.link.passes import DEFAULT_MODEL_PATH, COUNT_COLUMNS, link, read_link_decisions, train_model
from tfclaims.synth.unlinked import make_events, make_people, make_unlinked, transpose_letters
from tfclaims.link.names import first_name_keys, nickname_compatible, normalise_name

S = "str"


def _people() -> pd.DataFrame:
    """Six hand-made people: two families, twins with the same name, a Jr/Sr pair."""
    return pd.DataFrame({
        "person_id": pd.array(["P1", "P2", "P3", "P4", "P5", "P6"], dtype=S),
        "family_id": pd.array(["F1", "F1", "F1", "F2", "F2", "F2"], dtype=S),
        "first_name": pd.array(["William", "Zoë", "Siobhan", "Alex", "Alex", "Mary-Jane"], dtype=S),
        "last_name": pd.array(["O'Brien", "O'Brien", "Khan", "Smith", "Smith", "Smith"], dtype=S),
        "date_of_birth": pd.to_datetime(["1980-03-04", "2012-07-21", "1985-11-30", "2015-02-01", "2015-02-01",
                                         "1983-05-06"]).astype("datetime64[ns]"),
        "relationship": pd.array(["parent", "child", "parent", "child", "child", "parent"], dtype=S),
        "postcode": pd.array(["M1 1AA", "M1 1AA", "M1 1AA", "LS2 9JT", "LS2 9JT", "LS2 9JT"], dtype=S),
        "upn": pd.array([None, "A123456789012", None, "B123456789012", "C123456789012", None], dtype=S),
        "nhs_number": pd.array(["9434765919", "9434765870", None, None, None, "4010232137"], dtype=S),
        "ni_number": pd.array(["AB123456C", None, "CE654321A", None, None, None], dtype=S),
    })


def _events(rows: list[dict]) -> pd.DataFrame:
    """An offences table from row dicts (missing keys are blank), with lineage."""
    cols = ["person_id", "upn", "nhs_number", "ni_number", "first_name", "last_name", "postcode"]
    df = pd.DataFrame({c: pd.array([r.get(c) for r in rows], dtype=S) for c in cols})
    df["date_of_birth"] = pd.to_datetime([r.get("date_of_birth") for r in rows]).astype("datetime64[ns]")
    df["offence_date"] = pd.Timestamp("2024-01-01")
    df["outcome"] = pd.array(["proven"] * len(rows), dtype=S)
    df["source_file"] = pd.array(["police.csv"] * len(rows), dtype=S)
    df["source_sheet"] = pd.array([None] * len(rows), dtype=S)
    df["source_row"] = pd.array(range(2, len(rows) + 2), dtype="Int64")
    return df


HAND_ROWS = [
    {"person_id": "P3"},                                                   # row 2: person_id known
    {"person_id": "P99"},                                                  # row 3: unknown person_id
    {"upn": "A123456789012"},                                              # row 4: upn -> P2
    {"nhs_number": "943 476 5919"},                                        # row 5: nhs (spaced) -> P1
    {"ni_number": "ce654321a"},                                            # row 6: ni (lower) -> P3
    {"upn": "A123456789012", "nhs_number": "9434765919"},                  # row 7: conflicting ids P2 / P1
    {"upn": "Z999999999999"},                                              # row 8: id nobody has, no names
    {},                                                                    # row 9: nothing to match on
    {"first_name": "BILL", "last_name": "obrien", "date_of_birth": "1980-03-04"},   # row 10: nickname + case
    {"first_name": "Zoe", "last_name": "O BRIEN", "date_of_birth": "2012-07-21"},   # row 11: accent + space
    {"first_name": "Alex", "last_name": "Smith", "date_of_birth": "2015-02-01", "postcode": "LS29JT"},  # 12: twins
    {"upn": "Z999999999999", "first_name": "Mary Jane", "last_name": "SMITH", "date_of_birth": "1983-05-06"},  # 13
    {"first_name": "Siobahn", "last_name": "Khan", "date_of_birth": "1985-11-30", "postcode": "m1 1aa"},  # 14 typo
]


@pytest.fixture(scope="module")
def hand_result():
    return link(Cohort({"people": _people(), "offences": _events(HAND_ROWS)}), LinkageSettings())


def _by_row(result) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (result.cohort["offences"].set_index("source_row"), result.unmatched.set_index("row"))


# ---------------------------------------------------------------------------------------------
# names


def test_normalise_name_folds_case_accents_hyphens_apostrophes() -> None:
    s = pd.Series(["O'Brien-Smith", "  ZOË ", "José", "Straße", "", None, "D'Souza"], dtype=S)
    out = normalise_name(s)
    assert out.iloc[:4].tolist() == ["obriensmith", "zoe", "jose", "strasse"]
    assert out.iloc[4:6].isna().all() and out.iloc[6] == "dsouza"


def test_nicknames_come_from_the_data_file_and_ambiguous_short_forms_keep_both() -> None:
    keys = first_name_keys(pd.Series(["Bill", "WILLIAM", "Sam", "Kate", "Xanthe"], dtype=S))
    assert keys.iloc[0] == keys.iloc[1] == "william"
    assert set(keys.iloc[2].split("|")) == {"samuel", "samantha"}
    assert "katherine" in keys.iloc[3].split("|") and "catherine" in keys.iloc[3].split("|")
    assert keys.iloc[4] == "xanthe"
    ok = nickname_compatible(pd.Series(["Sam", "Sam", "Bill", "Tom"]), pd.Series(["Samantha", "Samuel", "Robert", "Thomas"]))
    assert ok.tolist() == [True, True, False, True]


def test_transpose_letters_swaps_neighbours_only() -> None:
    s = pd.Series(["abcdef", "x", None] * 50, dtype=S)
    out = transpose_letters(s, np.random.default_rng(1))
    longs = out[s == "abcdef"]
    assert (longs.str.len() == 6).all() and (longs.map(sorted).map("".join) == "abcdef").all()
    assert (longs != "abcdef").any()
    assert (out[s == "x"] == "x").all() and out[s.isna()].isna().all()


# ---------------------------------------------------------------------------------------------
# exact passes on hand-made rows


def test_person_id_and_exact_identifier_passes(hand_result) -> None:
    linked, unmatched = _by_row(hand_result)
    assert linked.loc[2, ["person_id", "link_method"]].tolist() == ["P3", "person_id"]
    assert linked.loc[4, ["person_id", "link_method"]].tolist() == ["P2", "upn"]
    assert linked.loc[5, ["person_id", "link_method"]].tolist() == ["P1", "nhs_number"]
    assert linked.loc[6, ["person_id", "link_method"]].tolist() == ["P3", "ni_number"]
    assert (linked.loc[[2, 4, 5, 6], "link_probability"] == 1.0).all()
    assert unmatched.loc[3, "reason"] == "unknown_person_id"


def test_conflicting_identifiers_are_ambiguous_and_name_both_people(hand_result) -> None:
    _, unmatched = _by_row(hand_result)
    assert unmatched.loc[7, "reason"] == "ambiguous"
    assert set(unmatched.loc[7, "candidates"].split("; ")) == {"P2 (upn)", "P1 (nhs_number)"}


def test_rows_with_nothing_usable_are_unmatched_not_dropped(hand_result) -> None:
    _, unmatched = _by_row(hand_result)
    assert unmatched.loc[8, "reason"] == "no_candidate"
    assert unmatched.loc[9, "reason"] == "no_person_reference"


def test_name_dob_pass_sees_through_nicknames_case_accents_and_punctuation(hand_result) -> None:
    linked, _ = _by_row(hand_result)
    assert linked.loc[10, ["person_id", "link_method"]].tolist() == ["P1", "name_dob"]
    assert linked.loc[11, ["person_id", "link_method"]].tolist() == ["P2", "name_dob"]
    # an identifier nobody has falls through to the names, which are exact once normalised
    assert linked.loc[13, ["person_id", "link_method"]].tolist() == ["P6", "name_dob"]


def test_twins_with_one_name_dob_and_address_go_to_review_not_to_either(hand_result) -> None:
    linked, unmatched = _by_row(hand_result)
    assert 12 not in linked.index
    assert unmatched.loc[12, "reason"] == "ambiguous"
    best_two = {c.split(" ")[0] for c in unmatched.loc[12, "candidates"].split("; ")[:2]}
    assert best_two == {"P4", "P5"}


def test_a_typo_with_matching_dob_and_address_links_probabilistically(hand_result) -> None:
    linked, _ = _by_row(hand_result)
    assert linked.loc[14, ["person_id", "link_method"]].tolist() == ["P3", "probabilistic"]
    assert 0.99 <= linked.loc[14, "link_probability"] <= 1.0


def test_counts_reconcile_and_outputs_follow_their_schemas(hand_result) -> None:
    c = hand_result.counts.loc["offences"]
    assert c["rows"] == len(HAND_ROWS)
    assert c["rows"] == c[list(COUNT_COLUMNS[1:])].sum()
    assert c["unmatched"] == len(hand_result.unmatched) == 5  # rows 3, 7, 8, 9, 12
    assert len(hand_result.cohort["offences"]) == c["rows"] - c["unmatched"]
    assert hand_result.cohort["offences"]["person_id"].notna().all()
    Unmatched.validate(hand_result.unmatched)
    validate_unmatched(hand_result.unmatched)
    LinkedEventColumns.validate(hand_result.cohort["offences"][["person_id", "link_method", "link_probability"]])
    assert hand_result.cohort["offences"]["link_probability"].dtype == "Float64"


def test_housing_family_rows_need_no_link_and_absent_tables_stay_absent() -> None:
    housing = pd.DataFrame({
        "family_id": pd.array(["F1", None], dtype=S),
        "person_id": pd.array([None, "P1"], dtype=S),
        "recorded_on": pd.to_datetime(["2024-01-01", "2024-02-01"]).astype("datetime64[ns]"),
        "issue": pd.array(["homeless", "rent_arrears"], dtype=S),
        "source_file": pd.array(["housing.csv"] * 2, dtype=S),
        "source_sheet": pd.array([None, None], dtype=S),
        "source_row": pd.array([2, 3], dtype="Int64"),
    })
    empty = _events([]).iloc[0:0]
    result = link(Cohort({"people": _people(), "housing": housing, "exclusions": empty}))
    assert result.counts.loc["housing", ["rows", "family_only", "person_id", "unmatched"]].tolist() == [2, 1, 1, 0]
    out = result.cohort["housing"]
    assert out["family_id"].tolist()[0] == "F1" and pd.isna(out["person_id"].iloc[0])
    assert result.cohort.supplied("exclusions") and result.cohort["exclusions"].empty
    assert "link_method" in result.cohort["exclusions"].columns
    assert not result.cohort.supplied("offences")
    assert result.unmatched.empty and list(result.unmatched.columns) == list(Unmatched.to_schema().columns)


# ---------------------------------------------------------------------------------------------
# clerical review


def test_clerical_decisions_link_or_confirm_no_match(hand_result) -> None:
    decisions = pd.DataFrame({
        "table": ["offences", "Offences"], "file": ["police.csv", "police.csv"], "sheet": ["", ""],
        "row": ["12", "7"], "person_id": ["P5", "no_match"],
    })
    result = link(Cohort({"people": _people(), "offences": _events(HAND_ROWS)}), LinkageSettings(), decisions)
    linked, unmatched = _by_row(result)
    assert linked.loc[12, ["person_id", "link_method"]].tolist() == ["P5", "clerical"]
    assert unmatched.loc[7, "reason"] == "reviewed_no_match"
    assert result.counts.loc["offences", "clerical"] == 1
    assert result.counts.loc["offences", "unmatched"] == hand_result.counts.loc["offences", "unmatched"] - 1


def test_bad_decision_files_are_rejected_naming_the_row(tmp_path) -> None:
    cohort = Cohort({"people": _people(), "offences": _events(HAND_ROWS)})
    path = tmp_path / "decisions.csv"
    path.write_text("table,file,sheet,row,person_id\noffences,police.csv,,12,P5\noffences,police.csv,,7,P404\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"decisions.csv row 3: person_id 'P404' is not in people"):
        link(cohort, LinkageSettings(), read_link_decisions(path))
    path.write_text("table,file,sheet,row,person_id\noffences,police.csv,,12,P5\noffences,police.csv,,7,\n"
                    "offences,police.csv,,999,P1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"decisions.csv row 4: no row 999 in offences file police.csv"):
        link(cohort, LinkageSettings(), read_link_decisions(path))
    path.write_text("table,file,row,person_id\noffences,police.csv,12,P5\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing sheet"):
        read_link_decisions(path)
    path.write_text("table,file,sheet,row,person_id\noffences,police.csv,,twelve,P5\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2: 'row' must be a row number"):
        link(cohort, LinkageSettings(), read_link_decisions(path))


# ---------------------------------------------------------------------------------------------
# synthetic data, precision and recall


def test_make_people_has_valid_unique_identifiers() -> None:
    p = make_people(3000, seed=5)
    assert len(p) == 3000 and p["person_id"].is_unique
    for col, check in (("upn", upn_valid), ("nhs_number", nhs_number_valid), ("ni_number", ni_number_valid)):
        ids = p[col].dropna()
        assert len(ids) > 300 and check(ids).all() and ids.is_unique
    assert p.equals(make_people(3000, seed=5))


def test_make_unlinked_drops_person_id_and_records_the_truth() -> None:
    p = make_people(2000, seed=6)
    ev = make_events(p, 1000, seed=7)
    tables, truth = make_unlinked({"people": p, "offences": ev}, p, 0.4, seed=8)
    assert tables["people"] is p
    out = tables["offences"]
    unlinked = out["person_id"].isna()
    assert unlinked.sum() == len(truth) and 300 < len(truth) < 500
    assert truth["source_row"].tolist() == out.loc[unlinked, "source_row"].tolist()
    original = ev.set_index("source_row")["person_id"]
    assert (original.loc[truth["source_row"]].to_numpy() == truth["person_id"].to_numpy()).all()
    # an identifier kept is the person's own
    by_upn = out.loc[unlinked & out["upn"].notna()].merge(truth, on="source_row")
    assert (by_upn["upn"].to_numpy() == p.set_index("person_id").loc[by_upn["person_id_y"], "upn"].to_numpy()).all()
    names = truth["mode"] == "names"
    assert out.loc[unlinked, "last_name"].notna().sum() == names.sum()


@pytest.fixture(scope="module")
def synthetic_run():
    people = make_people(20_000, seed=11)
    events = make_events(people, 5_000, seed=12)
    tables, truth = make_unlinked({"people": people, "offences": events}, people, 1.0, seed=13)
    return link(Cohort(tables), LinkageSettings()), truth


def test_precision_and_recall_against_the_truth(synthetic_run) -> None:
    result, truth = synthetic_run
    linked = result.cohort["offences"].merge(truth, on="source_row", suffixes=("", "_true"))
    correct = linked["person_id"] == linked["person_id_true"]
    precision, recall = correct.mean(), correct.sum() / len(truth)
    prob = linked[linked["link_method"] == "probabilistic"]
    prob_precision = (prob["person_id"] == prob["person_id_true"]).mean()
    names = linked[linked["mode"] == "names"]
    names_recall = (names["person_id"] == names["person_id_true"]).sum() / (truth["mode"] == "names").sum()
    print(f"\nall unlinked: precision {precision:.4f} recall {recall:.4f}; names-only recall {names_recall:.4f}; "
          f"probabilistic {len(prob)} links precision {prob_precision:.4f}")
    assert len(prob) > 200  # the Splink pass did real work
    assert precision >= 0.99 and recall >= 0.95
    assert prob_precision >= 0.99 and names_recall >= 0.95
    assert result.counts.loc["offences", "rows"] == len(truth)
    assert result.counts.loc["offences", "unmatched"] == len(result.unmatched)
    validate_unmatched(result.unmatched)


def test_a_stricter_threshold_links_fewer_rows_and_never_more(synthetic_run) -> None:
    result, _ = synthetic_run
    people = make_people(20_000, seed=11)
    events = make_events(people, 5_000, seed=12)
    tables, _ = make_unlinked({"people": people, "offences": events}, people, 1.0, seed=13)
    strict = link(Cohort(tables), LinkageSettings(match_threshold=0.9999, ambiguity_margin=0.2))
    assert strict.counts.loc["offences", "probabilistic"] < result.counts.loc["offences", "probabilistic"]
    assert strict.counts.loc["offences", "unmatched"] > result.counts.loc["offences", "unmatched"]


def test_train_model_is_seeded_and_its_model_links(tmp_path) -> None:
    people = make_people(4000, seed=21)
    a = train_model(people, tmp_path / "a.json", seed=3, sample_records=3000, u_max_pairs=5e5, em_max_pairs=2e5)
    b = train_model(people, tmp_path / "b.json", seed=3, sample_records=3000, u_max_pairs=5e5, em_max_pairs=2e5)
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())

    def params(model: dict) -> list[float]:
        return [lvl.get(k) or 0.0 for c in model["comparisons"] for lvl in c["comparison_levels"]
                for k in ("m_probability", "u_probability")]

    # same seed, same model (DuckDB's parallel sums may differ in the last bit)
    assert params(ma) == pytest.approx(params(mb), rel=1e-9, abs=1e-12)
    assert {k: v for k, v in ma.items() if k != "comparisons"} == {k: v for k, v in mb.items() if k != "comparisons"}
    m_exact = [lvl for c in ma["comparisons"] if c["output_column_name"] == "dob"
               for lvl in c["comparison_levels"] if lvl.get("label_for_charts") == "Exact match on dob"][0]
    assert m_exact["m_probability"] > 0.8 and m_exact["u_probability"] < 0.01
    events = _events([{"first_name": "Siobahn", "last_name": "Khan", "date_of_birth": "1985-11-30", "postcode": "M1 1AA"}])
    result = link(Cohort({"people": _people(), "offences": events}), LinkageSettings(model_path=a))
    assert result.cohort["offences"]["person_id"].tolist() == ["P3"]


def test_the_shipped_model_exists() -> None:
    model = json.loads(DEFAULT_MODEL_PATH.read_text())
    assert {c["output_column_name"] for c in model["comparisons"]} == {"first_name", "last_name", "dob", "postcode"}


def test_every_event_table_is_linked() -> None:
    p = _people()
    tables = {"people": p}
    for name in EVENT_TABLES:
        t = _events([{"person_id": "P1"}, {"nhs_number": "4010232137"}])
        t["source_file"] = pd.array([f"{name}.csv"] * 2, dtype=S)
        tables[name] = t
    result = link(Cohort(tables))
    assert set(result.counts.index) == set(EVENT_TABLES)
    assert (result.counts["person_id"] == 1).all() and (result.counts["nhs_number"] == 1).all()
    assert all(result.cohort[n]["person_id"].tolist() == ["P1", "P6"] for n in EVENT_TABLES)


def test_name_and_dob_identical_to_someone_elsewhere_is_not_taken_on_trust() -> None:
    """A mistyped dob can make a row name+dob-identical to another person; the address says otherwise."""
    extra = pd.DataFrame({
        "person_id": pd.array(["P7", "P8"], dtype=S), "family_id": pd.array(["F7", "F8"], dtype=S),
        "first_name": pd.array(["David", "David"], dtype=S), "last_name": pd.array(["Wilson", "Wilson"], dtype=S),
        "date_of_birth": pd.to_datetime(["2009-08-30", "2009-08-31"]).astype("datetime64[ns]"),
        "relationship": pd.array(["child", "child"], dtype=S),
        "postcode": pd.array(["E8 3UG", "NG4 1DT"], dtype=S),
    })
    people = pd.concat([_people(), extra], ignore_index=True)
    events = _events([
        {"first_name": "David", "last_name": "Wilson", "date_of_birth": "2009-08-30", "postcode": "NG4 1DT"},
        {"first_name": "David", "last_name": "Wilson", "date_of_birth": "2009-08-30", "postcode": "E8 3UG"},
        {"first_name": "David", "last_name": "Wilson", "date_of_birth": "2009-08-30"},
    ])
    result = link(Cohort({"people": people, "offences": events}))
    linked, unmatched = _by_row(result)
    assert linked.loc[3, ["person_id", "link_method"]].tolist() == ["P7", "name_dob"]  # address agrees
    assert linked.loc[4, ["person_id", "link_method"]].tolist() == ["P7", "name_dob"]  # no address to contradict
    # the two Davids are both plausible (P7 by name+dob, P8 by name+address+dob one day off): a reviewer decides
    assert 2 not in linked.index
    assert unmatched.loc[2, "reason"] == "ambiguous"
    assert {c.split(" ")[0] for c in unmatched.loc[2, "candidates"].split("; ")[:2]} == {"P7", "P8"}


def test_make_unlinked_also_takes_text_tables_as_synth_writes_them() -> None:
    from tfclaims.synth.generate import generate_cohort

    cohort = generate_cohort(60, seed=4)
    people = cohort.tables["people"]
    tables, truth = make_unlinked(cohort.tables, people, 0.5, seed=9)
    assert len(truth) > 50 and set(truth["table"]) <= set(EVENT_TABLES)
    for name in truth["table"].unique():
        t = tables[name]
        newly = t["person_id"].isna() & cohort.tables[name]["person_id"].notna()  # housing has family-only rows
        assert newly.sum() == (truth["table"] == name).sum()
        dob = t["date_of_birth"].dropna()
        assert pd.api.types.is_string_dtype(dob) and dob.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    # the truth's row is the row a person sees in the table's CSV (header = row 1)
    first = truth.iloc[0]
    t = tables[first["table"]]
    assert pd.isna(t["person_id"].iloc[first["source_row"] - 2])
    assert cohort.tables[first["table"]]["person_id"].iloc[first["source_row"] - 2] == first["person_id"]


# ---------------------------------------------------------------------------------------------
# the fast path: rows with a known person_id skip the work frame, and nothing else changes


def _mixed_cohort() -> Cohort:
    """Every kind of row at once: known person_id, unknown person_id, one with stray spaces,
    identifiers only, names only (with typos), nothing at all, and housing rows by family only."""
    people = make_people(3000, seed=31)
    events = make_events(people, 1500, seed=32)
    tables, truth = make_unlinked({"people": people, "offences": events}, people, 0.3, seed=33)
    offences = tables["offences"]
    assert set(truth["mode"]) == {"upn", "nhs_number", "ni_number", "names"}
    with_id = np.flatnonzero(offences["person_id"].notna().to_numpy())
    pid = offences["person_id"].to_numpy(dtype=object)
    pid[with_id[:5]] = "NOBODY"  # unknown person_id
    pid[with_id[5]] = f"  {pid[with_id[5]]} "  # a known person written with spaces
    offences["person_id"] = pd.array(pid, dtype=S)
    housing = make_events(people, 40, seed=34).rename(columns={"offence_date": "recorded_on", "outcome": "issue"})
    family = people.set_index("person_id")["family_id"]
    housing["family_id"] = pd.array(family.loc[housing["person_id"]].to_numpy(), dtype=S)
    hp = housing["person_id"].to_numpy(dtype=object)
    hp[:10] = None  # family only
    hp[10:12] = "NOBODY"
    housing["person_id"] = pd.array(hp, dtype=S)
    housing.loc[12, "family_id"] = pd.NA
    housing.loc[12, "person_id"] = pd.NA  # nothing at all
    return Cohort({"people": people, "offences": offences, "housing": housing})


def _assert_same_result(fast, full) -> None:
    assert set(fast.cohort.tables) == set(full.cohort.tables)
    for name in EVENT_TABLES:
        if full.cohort.supplied(name):
            pd.testing.assert_frame_equal(fast.cohort[name], full.cohort[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(fast.unmatched, full.unmatched, check_exact=True)
    pd.testing.assert_frame_equal(fast.counts, full.counts, check_exact=True)


@pytest.mark.parametrize("with_decisions", [False, True])
def test_fast_path_gives_exactly_what_the_full_path_gives(with_decisions) -> None:
    from tfclaims.link.passes import _known_person_rows, _work_frame

    cohort = _mixed_cohort()
    offences = cohort["offences"]
    decisions = None
    if with_decisions:  # a reviewer overrides a row whose person_id is valid, and links an unlinked one
        valid = offences.index[offences["person_id"].isin(cohort.people["person_id"])]
        blank = offences.index[offences["person_id"].isna()]
        decisions = pd.DataFrame({
            "table": ["offences"] * 3, "file": offences.loc[[valid[0], valid[1], blank[0]], "source_file"].tolist(),
            "sheet": [""] * 3, "row": offences.loc[[valid[0], valid[1], blank[0]], "source_row"].astype(str).tolist(),
            "person_id": [cohort.people["person_id"].iloc[0], "no_match", cohort.people["person_id"].iloc[1]],
        })
    fast = link(cohort, LinkageSettings(), decisions)
    full = link(cohort, LinkageSettings(), decisions, _fast_path=False)
    _assert_same_result(fast, full)

    # the cases really are all there, and the fast path really did skip the work frame for most rows
    c = full.counts
    assert c.loc["offences", ["person_id", "upn", "nhs_number", "ni_number", "name_dob", "probabilistic"]].gt(0).all()
    assert set(full.unmatched["reason"]) >= {"unknown_person_id", "no_person_reference"}
    assert c.loc["housing", "family_only"] == 10
    spaced = offences.loc[offences["person_id"].str.startswith(" ").fillna(False).to_numpy(dtype=bool)]
    spaced_out = full.cohort["offences"].set_index("source_row").loc[spaced["source_row"].iloc[0]]
    assert spaced_out["link_method"] == "person_id" and spaced_out["person_id"] == spaced["person_id"].iloc[0].strip()
    decided = None
    if with_decisions:
        from tfclaims.link.passes import _decision_keys

        decided = _decision_keys(decisions)
        assert c.loc["offences", "clerical"] == 2
    known = _known_person_rows(cohort, pd.Index(cohort.people["person_id"]), decided)
    rows = _work_frame(cohort, known)
    n_events = len(offences) + len(cohort["housing"])
    assert 0 < len(rows) < n_events // 2
    assert len(rows) == n_events - sum(int(m.sum()) for m in known.values())
    # rows the fast path must leave to the passes: spaced or unknown person_id, and every decided row
    pid = offences["person_id"]
    left = (pid.str.startswith(" ") | (pid == "NOBODY")).fillna(False).to_numpy(dtype=bool)
    assert left.sum() == 6 and not known["offences"][left].any()
    if with_decisions:
        decided_rows = offences["source_row"].isin(decisions["row"].astype(int)).to_numpy(dtype=bool)
        assert decided_rows.sum() == 3 and not known["offences"][decided_rows].any()


def test_fast_path_on_a_cohort_with_every_person_known_leaves_the_input_alone_and_never_loads_splink() -> None:
    import subprocess
    import sys

    code = """
import sys
import pandas as pd
from tfclaims.core.cohort import Cohort
from tfclaims.link.passes import link
from tfclaims.synth.unlinked import make_events, make_people
people = make_people(500, seed=41)
events = make_events(people, 2000, seed=42)
before = events.copy()
result = link(Cohort({"people": people, "offences": events}))
assert "splink" not in sys.modules, "splink was imported"
pd.testing.assert_frame_equal(events, before)  # the caller's table did not gain columns
out = result.cohort["offences"]
assert out["person_id"].tolist() == events["person_id"].tolist()
assert (out["link_method"] == "person_id").all() and (out["link_probability"] == 1.0).all()
assert str(out["link_method"].dtype) == "str" and str(out["link_probability"].dtype) == "Float64"
assert result.counts.loc["offences", ["rows", "person_id", "unmatched"]].tolist() == [2000, 2000, 0]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
