"""The link stage end to end on a synthetic cohort whose event rows carry identifiers only.

``tfclaims synth --unlinked`` writes the cohort and the truth (who each unlinked row is); the cohort
goes through ingest and link as a council's would; the links are checked against the truth, the
eligibility against the same seed written with ``person_id`` everywhere, and the clerical review
loop (unmatched.csv -> a reviewer's decisions -> ``--link-decisions``) is closed, in Python and
through the CLI with its audit record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.schemas.link import LINK_METHODS, validate_unmatched
from tfclaims.audit import trail as audit
from tfclaims.cli import main
from tfclaims.synth.generate import NATIONAL_EVENT_TABLES as EVENT_TABLES  # the event tables synth writes by default
from tfclaims.core.config import LinkageSettings
from tfclaims.rules.frameworks import Framework, load_framework
from tfclaims.rules.identify import identify
from tfclaims.ingest.validate import IngestResult, ingest
from tfclaims.link.passes import NO_MATCH, LinkResult, link, read_link_decisions
from tfclaims.link.names import normalise_name
from tfclaims.synth.generate import FRAMEWORKS, LINK_TRUTH_FILE, SYNTH_SUBDIR
from tfclaims.core.write import sha256_file, write_csv

FAMILIES, SEED, RATE = 150, 7, 0.3
FRAMEWORK = "tf-phase2"
AS_OF: dt.date = FRAMEWORKS[FRAMEWORK].default_period_end  # the synth period end
KEY = ["table", "file", "sheet", "row"]  # a source row, as unmatched.csv, the truth and decisions name it


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV as text (blank = missing; a surname ``NA`` stays ``NA``), ``row`` as a number."""
    df = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
    if "row" in df:
        df["row"] = df["row"].astype("Int64")
    return df


@dataclass
class Stage:
    """One cohort folder read through ingest and link."""

    folder: Path
    ingested: IngestResult
    linked: LinkResult


def run_stage(folder: Path, decisions: pd.DataFrame | None = None) -> Stage:
    ingested = ingest(folder)
    return Stage(folder, ingested, link(ingested.cohort, LinkageSettings(), decisions))


def linked_rows(result: LinkResult) -> pd.DataFrame:
    """Every event row the link stage kept: its source row, person_id and method."""
    parts = []
    for name in EVENT_TABLES:
        t = result.cohort.get(name)
        if t is None:
            continue
        parts.append(pd.DataFrame({
            "table": name, "file": t["source_file"].to_numpy(), "sheet": t["source_sheet"].to_numpy(),
            "row": t["source_row"].to_numpy(), "person_id": t["person_id"].to_numpy(),
            "link_method": t["link_method"].to_numpy(),
        }))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"table": "str", "file": "str", "sheet": "str", "row": "Int64", "person_id": "str", "link_method": "str"})


def on_key(left: pd.DataFrame, right: pd.DataFrame, **kw) -> pd.DataFrame:
    """Merge on the source row (a CSV's blank sheet matches a blank sheet)."""
    fill = {"sheet": ""}
    return left.fillna(fill).merge(right.fillna(fill), on=KEY, **kw)


def families_of(rows: pd.DataFrame, truth: pd.DataFrame, people: pd.DataFrame) -> set[str]:
    """The families whose people the given source rows truly belong to."""
    who = on_key(rows[KEY], truth[[*KEY, "person_id"]], how="left")
    assert who["person_id"].notna().all(), "a row sent to review that the generator did not unlink"
    return set(people.set_index("person_id").loc[who["person_id"], "family_id"])


def eligibility(stage: Stage, framework: Framework) -> pd.DataFrame:
    return identify(stage.linked.cohort, framework, AS_OF).eligibility.set_index("family_id")


def evidence(cohort, framework: Framework, families: pd.Index | None = None) -> pd.DataFrame:
    """The evidence rows (person, source file and row of each event), in one order, of some families."""
    ev = identify(cohort, framework, AS_OF).evidence
    if families is not None:
        ev = ev[ev["family_id"].isin(families)]
    return ev.sort_values(list(ev.columns), ignore_index=True)


def decisions_for(unmatched: pd.DataFrame, truth: pd.DataFrame, path: Path, no_match: int = 0) -> Path:
    """What a reviewer writes: each unmatched row with its true person_id (the first ``no_match`` rows: no match)."""
    d = on_key(unmatched[KEY], truth[[*KEY, "person_id"]], how="left")
    d["sheet"] = d["sheet"].replace("", pd.NA)
    d.loc[d.index[:no_match], "person_id"] = NO_MATCH
    return write_csv(d[[*KEY, "person_id"]], path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("link_e2e")
    common = ["synth", "--families", str(FAMILIES), "--seed", str(SEED), "--framework", FRAMEWORK]
    assert cli(*common, "--out", str(root / "with_person_id")) == 0
    assert cli(*common, "--unlinked", str(RATE), "--out", str(root / "unlinked")) == 0
    return {"root": root, "with_person_id": root / "with_person_id", "unlinked": root / "unlinked"}


@pytest.fixture(scope="module")
def truth(folders) -> pd.DataFrame:
    return read_text_csv(folders["unlinked"] / SYNTH_SUBDIR / LINK_TRUTH_FILE)


@pytest.fixture(scope="module")
def unlinked(folders) -> Stage:
    return run_stage(folders["unlinked"])


@pytest.fixture(scope="module")
def reference(folders) -> Stage:
    return run_stage(folders["with_person_id"])


@pytest.fixture(scope="module")
def framework() -> Framework:
    return load_framework(FRAMEWORK)


def test_unlinked_rows_carry_identifiers_only_with_realistic_typos(folders, truth) -> None:
    """The generator's side: the same rows, no person_id, the person's own identifiers, names with typos."""
    assert (folders["with_person_id"] / "people.csv").read_bytes() == (folders["unlinked"] / "people.csv").read_bytes()
    assert not (folders["with_person_id"] / SYNTH_SUBDIR / LINK_TRUTH_FILE).exists()
    people = read_text_csv(folders["unlinked"] / "people.csv").set_index("person_id")
    assert set(truth["table"]) == set(EVENT_TABLES) and set(truth["mode"]) == {"upn", "nhs_number", "ni_number", "names"}
    all_rows = sum(len(read_text_csv(folders["with_person_id"] / f"{t}.csv")) for t in EVENT_TABLES)
    assert 0.2 * all_rows < len(truth) < 0.35 * all_rows  # about RATE of the rows with a person_id
    typos = {"first_name": 0, "last_name": 0, "date_of_birth": 0, "postcode_missing": 0}
    for name, rows in truth.groupby("table"):
        before = read_text_csv(folders["with_person_id"] / f"{name}.csv")
        after = read_text_csv(folders["unlinked"] / f"{name}.csv")
        assert len(before) == len(after)
        i = rows["row"].to_numpy() - 2
        assert after["person_id"].iloc[i].isna().all()
        assert (before["person_id"].iloc[i].to_numpy() == rows["person_id"].to_numpy()).all()
        others = after.drop(index=i)  # every other row is as it was
        assert others["person_id"].equals(before.drop(index=i)["person_id"])
        who = people.loc[rows["person_id"]].reset_index()
        for id_col in ("upn", "nhs_number", "ni_number"):  # an identifier given is the person's own
            given = after[id_col].iloc[i].notna().to_numpy()
            assert (after[id_col].iloc[i][given].to_numpy() == who[id_col][given].to_numpy()).all()
        names = (rows["mode"] == "names").to_numpy()
        got = after.iloc[i][names].reset_index(drop=True)
        assert got[["first_name", "last_name", "date_of_birth"]].notna().all().all()  # always a person reference
        own = who[names].reset_index(drop=True)
        typos["first_name"] += int((normalise_name(got["first_name"]).to_numpy() != normalise_name(own["first_name"]).to_numpy()).sum())
        typos["last_name"] += int((normalise_name(got["last_name"]).to_numpy() != normalise_name(own["last_name"]).to_numpy()).sum())
        own_dob = pd.to_datetime(own["date_of_birth"], format="mixed", dayfirst=True).dt.strftime("%Y-%m-%d")
        typos["date_of_birth"] += int((got["date_of_birth"].to_numpy() != own_dob.to_numpy()).sum())
        typos["postcode_missing"] += int(got["postcode"].isna().sum())
    print(f"\n{len(truth)} unlinked rows of {all_rows}; names rows with: {typos}")
    assert all(n > 0 for n in typos.values()), typos


def test_links_reconcile_and_match_the_truth(unlinked, truth) -> None:
    counts = unlinked.linked.counts
    ingest_counts = {c.table: c for c in unlinked.ingested.counts}
    unmatched = unlinked.linked.unmatched
    validate_unmatched(unmatched)
    for name in EVENT_TABLES:
        c, lc = ingest_counts[name], counts.loc[name]
        linked_n = int(lc[list(LINK_METHODS)].sum())
        assert c.read == c.quarantined + linked_n + int(lc["family_only"]) + int(lc["unmatched"]), name
        assert int(lc["unmatched"]) == int((unmatched["table"] == name).sum()), name
    assert unlinked.ingested.quarantined_rows == 0  # every unlinked row is a valid person reference

    rows = linked_rows(unlinked.linked)
    got = on_key(truth, rows, how="left", suffixes=("", "_linked"))
    is_linked = got["person_id_linked"].notna()
    sent_to_review = on_key(truth[KEY], unmatched[KEY], how="inner")
    assert is_linked.sum() + len(sent_to_review) == len(truth)  # each truth row linked or in review, never both
    assert len(unmatched) == len(sent_to_review)  # only unlinked rows go to review
    correct = got["person_id_linked"] == got["person_id"]
    precision = correct[is_linked].mean()
    recall = correct.sum() / len(truth)
    by_method = got.loc[is_linked, "link_method"].value_counts().to_dict()
    print(f"\n{len(truth)} unlinked rows: linked {int(is_linked.sum())} ({by_method}), to review {len(unmatched)} "
          f"({unmatched['reason'].value_counts().to_dict()}); precision {precision:.4f}, recall {recall:.4f}")
    assert precision == 1.0, got.loc[is_linked & ~correct, [*KEY, "person_id", "person_id_linked", "link_method"]]
    assert recall >= 0.95
    assert {"upn", "nhs_number", "ni_number", "name_dob", "probabilistic"} <= set(by_method)
    # rows that kept their person_id are linked by it, to themselves
    kept = rows[rows["person_id"].notna() & ~rows.set_index(KEY).index.isin(truth.set_index(KEY).index)]
    assert (kept["link_method"] == "person_id").all()


def test_same_eligibility_with_and_without_person_id_except_families_sent_to_review(
        unlinked, reference, truth, framework) -> None:
    assert len(reference.linked.unmatched) == 0
    people = unlinked.linked.cohort.people
    touched = families_of(unlinked.linked.unmatched, truth, people)
    a, b = eligibility(unlinked, framework), eligibility(reference, framework)
    assert a.index.equals(b.index) and len(a) == FAMILIES
    untouched = a.index.difference(sorted(touched))
    differ = sorted(f for f in a.index if not a.loc[f].equals(b.loc[f]))
    print(f"\nfamilies touched by rows sent to review: {sorted(touched)}; eligibility differs for: {differ}")
    assert len(untouched) >= 0.9 * FAMILIES
    pd.testing.assert_frame_equal(a.loc[untouched], b.loc[untouched])
    # and on the same evidence: the same events, put on the same people
    pd.testing.assert_frame_equal(evidence(unlinked.linked.cohort, framework, untouched),
                                  evidence(reference.linked.cohort, framework, untouched))
    assert set(differ) <= touched
    assert int(b["eligible"].sum()) > 0  # a comparison of something


def test_clerical_decisions_close_every_reviewed_row(unlinked, reference, truth, framework, tmp_path) -> None:
    unmatched = unlinked.linked.unmatched
    assert len(unmatched) > 0
    path = decisions_for(unmatched, truth, tmp_path / "decisions.csv")
    decided = link(unlinked.ingested.cohort, LinkageSettings(), read_link_decisions(path))
    assert len(decided.unmatched) == 0
    assert int(decided.counts["clerical"].sum()) == len(unmatched)
    rows = on_key(linked_rows(decided), truth[[*KEY, "person_id"]], how="inner", suffixes=("", "_true"))
    assert (rows["person_id"] == rows["person_id_true"]).all()
    assert (rows.merge(unmatched[KEY].fillna({"sheet": ""}), on=KEY)["link_method"] == "clerical").all()
    # every row now belongs to its person: the same eligibility as the cohort that had person_id everywhere
    after = identify(decided.cohort, framework, AS_OF).eligibility.set_index("family_id")
    pd.testing.assert_frame_equal(after, eligibility(reference, framework))
    pd.testing.assert_frame_equal(evidence(decided.cohort, framework), evidence(reference.linked.cohort, framework))

    # a reviewer's "no match" keeps the row out, as reviewed
    path = decisions_for(unmatched, truth, tmp_path / "decisions_no_match.csv", no_match=1)
    partly = link(unlinked.ingested.cohort, LinkageSettings(), read_link_decisions(path))
    assert partly.unmatched["reason"].tolist() == ["reviewed_no_match"]
    assert partly.unmatched[KEY].fillna({"sheet": ""}).equals(unmatched[KEY].fillna({"sheet": ""}).iloc[:1])
    assert int(partly.counts["clerical"].sum()) == len(unmatched) - 1


def test_cli_review_loop_applies_decisions_and_audits_the_file(folders, truth) -> None:
    root, cohort = folders["root"], str(folders["unlinked"])
    trail = root / "audit.jsonl"
    first, second, ref = root / "first", root / "second", root / "reference"
    assert cli("identify", "--input", cohort, "--as-of", AS_OF.isoformat(), "--out", str(first), "--audit", str(trail)) == 0
    to_review = read_text_csv(first / "unmatched.csv")
    assert len(to_review) > 0
    decisions = decisions_for(to_review, truth, root / "link_decisions.csv")
    assert cli("identify", "--input", cohort, "--as-of", AS_OF.isoformat(), "--out", str(second),
               "--link-decisions", str(decisions), "--audit", str(trail)) == 0
    assert (second / "unmatched.csv").exists() and len(read_text_csv(second / "unmatched.csv")) == 0
    assert cli("identify", "--input", str(folders["with_person_id"]), "--as-of", AS_OF.isoformat(),
               "--out", str(ref), "--audit", str(trail)) == 0
    assert (second / "eligibility.csv").read_bytes() == (ref / "eligibility.csv").read_bytes()

    records = [r for r in audit.read_records(trail) if r.get("command") == "identify"]
    assert len(records) == 3
    with_decisions = records[1]
    inputs = {i["path"]: i for i in with_decisions["inputs"]}
    assert str(decisions) in inputs, list(inputs)
    assert inputs[str(decisions)]["sha256"] == sha256_file(decisions)
    assert with_decisions["params"]["link_decisions"] == str(decisions)
    assert not any(str(decisions) == i["path"] for i in records[0]["inputs"])


def test_xlsx_cohort_truth_names_the_sheet_and_bad_rates_are_refused(tmp_path) -> None:
    out = tmp_path / "book"
    assert cli("synth", "--families", "25", "--seed", "3", "--xlsx", "--unlinked", "0.5", "--out", str(out)) == 0
    truth = read_text_csv(out / SYNTH_SUBDIR / LINK_TRUTH_FILE)
    assert (truth["file"] == "cohort.xlsx").all() and (truth["sheet"] == truth["table"]).all()
    stage = run_stage(out / "cohort.xlsx")
    assert stage.ingested.quarantined_rows == 0
    got = on_key(truth, linked_rows(stage.linked), how="inner", suffixes=("", "_linked"))
    assert len(got) + len(stage.linked.unmatched) == len(truth) and len(got) > 0.9 * len(truth)
    assert (got["person_id_linked"] == got["person_id"]).all()
    for bad in ("1.5", "-0.1"):
        assert cli("synth", "--families", "5", "--seed", "3", "--unlinked", bad, "--out", str(tmp_path / "no")) == 2
    assert not (tmp_path / "no").exists()
