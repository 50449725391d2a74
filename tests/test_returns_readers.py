"""The CIN census and SSDA903 readers on fixtures built from the published structures.

Each fixture is a file a council could send: a CIN census per schema generation (2020 with
GenderCurrent, 2022 with CINPlanDates and factor 24A, 2023 with RC9 and referral source 5D, 2025 with
Sex), overlapping years, the schema breaks every public sample has, and the files a reader must
refuse; 903 episode chains, one per stitching rule.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import upn_check_letter
from tfclaims.ingest.readers import read_cohort
from tfclaims.ingest.returns import ReturnOptions
from tfclaims.ingest.returns_903 import read_ssda903, ssda903_table
from tfclaims.ingest.returns_cin import is_cin_census, read_cin_census

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<Message>
<Header>
<CollectionDetails><Collection>CIN</Collection><Year>{year}</Year><ReferenceDate>{year}-03-31</ReferenceDate></CollectionDetails>
<Source><SourceLevel>L</SourceLevel><LEA>999</LEA><SoftwareCode>Fake</SoftwareCode><Release>1</Release><SerialNo>1</SerialNo><DateTime>{year}-05-01T09:00:00</DateTime></Source>
</Header>
<Children>
"""
FOOTER = "</Children>\n</Message>\n"


def _with_check(body12: str) -> str:
    """A valid UPN: the check letter, then the 12 characters ``body12``."""
    return upn_check_letter(body12) + body12


def _cin(tmp_path: Path, name: str, year: int, children: str) -> Path:
    p = tmp_path / name
    p.write_text(HEADER.format(year=year) + children + FOOTER, encoding="utf-8")
    return p


def _line(path: Path, text: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line]
    return hits[nth - 1]


CHILD_2020 = """<Child>
<ChildIdentifiers><LAchildID>{id}</LAchildID><UPN>{upn}</UPN><PersonBirthDate>2012-05-01</PersonBirthDate><GenderCurrent>1</GenderCurrent></ChildIdentifiers>
<ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
<CINdetails>
<CINreferralDate>2019-06-01</CINreferralDate><ReferralSource>1A</ReferralSource><PrimaryNeedCode>N4</PrimaryNeedCode>
<CINclosureDate>{closure}</CINclosureDate><ReasonForClosure>RC7</ReasonForClosure><ReferralNFA>0</ReferralNFA>
<Assessments><AssessmentActualStartDate>2019-06-02</AssessmentActualStartDate><AssessmentAuthorisationDate>2019-06-20</AssessmentAuthorisationDate>
<FactorsIdentifiedAtAssessment><AssessmentFactors>3B</AssessmentFactors><AssessmentFactors>4A</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments>
<ChildProtectionPlans><CPPstartDate>2019-07-01</CPPstartDate><CPPendDate>{cpp_end}</CPPendDate><InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse></ChildProtectionPlans>
</CINdetails>
</Child>
"""


def test_a_cin_census_maps_each_element_to_its_row_with_its_line(tmp_path):
    upn = _with_check("999123456701")
    p = _cin(tmp_path, "census.xml", 2020, CHILD_2020.format(id="012345", upn=upn, closure="2020-01-10", cpp_end="2019-12-01"))
    assert is_cin_census(p)
    rows = read_cin_census([p], ReturnOptions(factor_codes=frozenset({"CIN_3B"})))
    assert rows.reconciles() and rows.read == 4 and rows.used == 3
    parts = {(x.table, x.sheet): x.frame for x in rows.parts}
    cin = parts[("social_care", "CINdetails")].iloc[0]
    assert (cin["la_child_id"], cin["upn"], cin["episode_type"], cin["start_date"], cin["end_date"]) == (
        "012345", upn, "cin", "2019-06-01", "2020-01-10")
    assert cin["source_row"] == _line(p, "<CINdetails>")
    cp = parts[("social_care", "ChildProtectionPlans")].iloc[0]
    assert (cp["episode_type"], cp["start_date"], cp["end_date"], cp["source_row"]) == ("cp", "2019-07-01", "2019-12-01",
                                                                                        _line(p, "<ChildProtectionPlans>"))
    factor = parts[("local_events", "AssessmentFactors")]
    assert factor[["code", "event_date", "source", "la_child_id"]].values.tolist() == [["CIN_3B", "2019-06-20", "CIN census", "012345"]]
    # 4A is not declared by the plan: left out, with what it is
    assert rows.left_out["reason"].tolist() == ["assessment factor 4A (mental health: the child is the subject): no rule of the outcome plan reads it"]
    assert rows.coverage[0].reference_date.isoformat() == "2020-03-31" and rows.findings.empty


def test_no_further_action_rc8_and_rc9_are_left_out_unless_the_council_asks(tmp_path):
    children = "".join(
        f"<Child><ChildIdentifiers><LAchildID>C{i}</LAchildID></ChildIdentifiers><CINdetails><CINreferralDate>2022-05-0{i}</CINreferralDate>"
        f"{extra}</CINdetails></Child>\n"
        for i, extra in enumerate(["<ReferralNFA>1</ReferralNFA>", "<CINclosureDate>2022-06-01</CINclosureDate><ReasonForClosure>RC8</ReasonForClosure>",
                                   "<CINclosureDate>2022-06-01</CINclosureDate><ReasonForClosure>RC9</ReasonForClosure><ReferralSource>5D</ReferralSource>",
                                   "<ReferralNFA>0</ReferralNFA>"], start=1)
    )
    p = _cin(tmp_path, "cin_2023.xml", 2023, children)
    default = read_cin_census([p], ReturnOptions())
    assert sorted(default.left_out["reason"]) == ["closed after assessment, no further action (RC8)",
                                                  "closed after assessment, referred to early help (RC9)",
                                                  "referral with no further action (ReferralNFA)"]
    assert sum(len(x.frame) for x in default.parts) == 1 and default.reconciles()
    brought_in = read_cin_census([p], ReturnOptions(include_cin_no_further_action=True))
    assert brought_in.left_out.empty and sum(len(x.frame) for x in brought_in.parts) == 4


def test_later_years_win_and_an_open_episode_missing_later_is_closed_at_its_reference_date(tmp_path):
    a = _cin(tmp_path, "a.xml", 2020, CHILD_2020.format(id="1", upn="", closure="", cpp_end=""))
    b = _cin(tmp_path, "b.xml", 2021, CHILD_2020.format(id="1", upn="", closure="2020-09-30", cpp_end="2020-08-01"))
    other = "<Child><ChildIdentifiers><LAchildID>2</LAchildID></ChildIdentifiers><CINdetails><CINreferralDate>2019-01-05</CINreferralDate></CINdetails></Child>\n"
    c = _cin(tmp_path, "c.xml", 2019, other)
    rows = read_cin_census([a, b, c], ReturnOptions())
    sc = pd.concat([x.frame.assign(file=x.file) for x in rows.parts if x.table == "social_care"], ignore_index=True)
    one = sc[sc["la_child_id"] == "1"].set_index("episode_type")
    assert one.loc["cin", "end_date"] == "2020-09-30" and one.loc["cin", "file"] == "b.xml"  # the 2021 return corrects 2020's
    assert one.loc["cp", "end_date"] == "2020-08-01"
    two = sc[sc["la_child_id"] == "2"].iloc[0]
    assert two["end_date"] == "2019-03-31"  # open at the 2019 reference date, in no later return
    assert rows.findings["problem"].str.contains("not in a later return: closed at 2019-03-31").sum() == 1
    assert (rows.left_out["reason"] == "superseded by the 2021 return (b.xml)").sum() == 2
    assert rows.reconciles()
    with pytest.raises(InputError, match="both the CIN census for collection year 2020"):
        read_cin_census([a, _cin(tmp_path, "a2.xml", 2020, other)], ReturnOptions())


def test_schema_breaks_are_reported_per_element_and_the_rest_is_read(tmp_path):
    child = """<Child>
<ChildIdentifiers><LAchildID>77.0</LAchildID><UPN>A00000000000</UPN><Sex>X</Sex></ChildIdentifiers>
<CINdetails>stray words<CINreferralDate>2024-05-01</CINreferralDate><ReferralNFA>false</ReferralNFA><ReasonForClosure>RC99</ReasonForClosure>
<Assessments><AssessmentAuthorisationDate>2024-05-10</AssessmentAuthorisationDate><FactorsIdentifiedAtAssessment><AssessmentFactors>99Z</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments>
<Assessments><FactorsIdentifiedAtAssessment/></Assessments>
</CINdetails>
</Child>
"""
    p = _cin(tmp_path, "cin_2025.xml", 2025, child)
    rows = read_cin_census([p], ReturnOptions())
    problems = dict(zip(rows.findings["element"], rows.findings["problem"], strict=True))
    assert "true/false where the specification has 0/1" in problems["ReferralNFA"]
    assert "UPN fails the check letter" in problems["UPN"]
    assert "stray text" in problems["CINdetails"]
    assert "not a reason for closure" in problems["ReasonForClosure"]
    assert "not a sex code" in problems["Sex"]
    assert "not a factor code" in problems["AssessmentFactors"]
    assert set(rows.findings["child"]) == {"77"} and set(rows.findings["file"]) == {"cin_2025.xml"}
    assert rows.findings.loc[rows.findings["element"] == "CINdetails", "line"].item() == _line(p, "<CINdetails>")
    episode = rows.parts[0].frame.iloc[0]
    assert episode["la_child_id"] == "77" and pd.isna(episode["upn"]) and episode["start_date"] == "2024-05-01"
    assert rows.reconciles()


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Message><Header><CollectionDetails><Collection>CIN</Collection><Year>2020</Year><ReferenceDate>2020-03-31</ReferenceDate></CollectionDetails></Header>
<Children><Child><ChildIdentifiers><LAchildID>&lol3;</LAchildID></ChildIdentifiers></Child></Children></Message>
"""


@pytest.mark.parametrize("text, message", [
    (BOMB, "refused: the file declares a DOCTYPE or an entity"),
    (BOMB.split("[")[0] + ">\n" + BOMB.split("]>\n")[1].replace("&lol3;", "1"), "refused: the file declares a DOCTYPE"),
    (HEADER.format(year=2020) + "<Child><ChildIdentifiers></Child>" + FOOTER, "line 8: not well-formed XML"),
    (HEADER.format(year=2020).replace("2020-03-31", "31/03/2020") + FOOTER, "ReferenceDate '31/03/2020' is not a date"),
])
def test_refused_files_name_the_file_and_nothing_is_read(tmp_path, text, message):
    p = tmp_path / "bad.xml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as exc:
        read_cin_census([p], ReturnOptions())
    assert str(exc.value).startswith("bad.xml: ")


def test_a_return_beyond_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    p = _cin(tmp_path, "big.xml", 2020, CHILD_2020.format(id="1", upn="", closure="", cpp_end=""))
    with pytest.raises(InputError, match="more than a return may be"):
        read_cin_census([p], ReturnOptions(max_return_bytes=100))


# ----------------------------------------------------------------------------------------------
# SSDA903

EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
HEADER_903 = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n"


def _csv(tmp_path: Path, name: str, head: str, rows: list[str], encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_text(head + "".join(r + "\n" for r in rows), encoding=encoding)
    return p


def _ep(child: str, decom: str, rne: str, dec: str = "", rec: str = "", ls: str = "C2") -> str:
    return f"{child},{decom},{rne},{ls},N1,U1,PR1,{dec},{rec},,,,"


def test_903_episodes_chain_into_spells_by_the_stitching_rules(tmp_path):
    upn = _with_check("999123456701")
    e24 = _csv(tmp_path, "SSDA903_2024_episodes.csv", EPISODES, [
        _ep("A", "01/05/2023", "S", "01/07/2023", "X1"),       # S ... X1 -> P continues (row 2)
        _ep("A", "01/07/2023", "P", "01/09/2023", "E4A"),      # ... returned home: the period ends
        _ep("A", "01/01/2024", "S"),                           # a new period, open at 31 March
        _ep("B", "15/03/2022", "L", "10/10/2023", "E11"),      # began before the returns: its own spell, no finding
        _ep("C", "01/04/2023", "S", "01/06/2023", "X1"),       # X1 ...
        _ep("C", "05/06/2023", "T", "01/08/2023", "E3"),       # ... the next starts another day: a new spell, a finding
        _ep("D", "01/05/2023", "S", ls="V3"),                  # short break: left out by default
    ])
    e25 = _csv(tmp_path, "SSDA903_2025_episodes.csv", EPISODES, [
        _ep("A", "01/01/2024", "S", "20/02/2025", "E13"),      # the 2025 return closes 2024's open period
        _ep("E", "01/05/2024", "S"),                           # blank DEC ...
        _ep("E", "01/08/2024", "L", "01/09/2024", "E4B"),      # ... and a later episode: ended at its start
        _ep("F", "01/03/2025", "S"),                           # open at 31 March 2025 ...
    ])
    h24 = _csv(tmp_path, "SSDA903_2024_header.csv", HEADER_903, [f"A,1,01/02/2012,WBRI,{upn},,", "B,2,01/02/2010,WBRI,UN3,,",
                                                                  "C,1,01/02/2011,WBRI,XYZ,,", "D,1,01/02/2013,WBRI,UN1,,"])
    assert [ssda903_table(p) for p in (e24, e25, h24)] == ["episodes", "episodes", "header"]
    rows = read_ssda903([e24, e25, h24], ReturnOptions())
    frame = pd.concat([x.frame.assign(file=x.file) for x in rows.parts], ignore_index=True)
    spells = {(r.la_child_id, r.start_date): (r.end_date if pd.notna(r.end_date) else None, r.file, r.source_row) for r in frame.itertuples()}
    assert spells == {
        ("A", "2023-05-01"): ("2023-09-01", "SSDA903_2024_episodes.csv", 2),
        ("A", "2024-01-01"): ("2025-02-20", "SSDA903_2025_episodes.csv", 2),
        ("B", "2022-03-15"): ("2023-10-10", "SSDA903_2024_episodes.csv", 5),
        ("C", "2023-04-01"): ("2023-06-01", "SSDA903_2024_episodes.csv", 6),
        ("C", "2023-06-05"): ("2023-08-01", "SSDA903_2024_episodes.csv", 7),
        ("E", "2024-05-01"): ("2024-09-01", "SSDA903_2025_episodes.csv", 3),
        ("F", "2025-03-01"): (None, "SSDA903_2025_episodes.csv", 5),
    }
    assert set(frame["episode_type"]) == {"lac"}
    a = frame[frame["la_child_id"] == "A"].iloc[0]
    assert (a["upn"], a["date_of_birth"]) == (upn, "2012-02-01")
    assert frame.loc[frame["la_child_id"] == "B", "upn"].isna().all()  # UN3: a placeholder, not a UPN, no finding
    reasons = sorted(zip(rows.left_out["child"], rows.left_out["element"], rows.left_out["reason"], strict=True))
    assert reasons == [("A", "Episodes", "superseded by the 2025 return (SSDA903_2025_episodes.csv)"),
                       ("D", "Episodes", "short-break respite (legal status V3/V4)"),
                       ("D", "Header", "no episode of this child in the returns")]
    problems = rows.findings["problem"].tolist()
    assert any("ended X1 on another day" in x for x in problems)
    assert any("no DEC but a later episode starts 2024-08-01" in x for x in problems)
    assert any("UPN fails the check letter" in x for x in problems) and not any(x.startswith("not a new period") and "B" == c
                                                                                   for x, c in zip(problems, rows.findings["child"], strict=True))
    assert rows.reconciles()
    assert [c.reference_date.isoformat() for c in rows.coverage] == ["2024-03-31", "2025-03-31"]
    # a later return (2026) that does not hold an episode open at 2025's end closes it there
    gone = _csv(tmp_path, "SSDA903_2026_episodes.csv", EPISODES, [_ep("Z", "01/05/2025", "S")])
    closed = read_ssda903([e24, e25, gone], ReturnOptions())
    e_spell = pd.concat([x.frame for x in closed.parts]).set_index(["la_child_id", "start_date"])
    assert e_spell.loc[("A", "2024-01-01"), "end_date"] == "2025-02-20"  # closed in its return: unchanged
    assert pd.isna(e_spell.loc[("Z", "2025-05-01"), "end_date"])  # open in the latest return: still open
    assert e_spell.loc[("E", "2024-05-01"), "end_date"] == "2024-09-01"
    assert e_spell.loc[("F", "2025-03-01"), "end_date"] == "2025-03-31"  # open in 2025, not in 2026: closed at 2025's end
    assert closed.findings["problem"].str.contains("not in a later return: closed at 2025-03-31").sum() == 1
    with_breaks = read_ssda903([e24, e25, h24], ReturnOptions(include_903_short_breaks=True))
    assert "D" in set(pd.concat([x.frame for x in with_breaks.parts])["la_child_id"])


def test_903_tables_are_recognised_by_their_columns_not_their_names(tmp_path):
    reviews = _csv(tmp_path, "whatever.csv", "CHILD,DOB,REVIEW,REVIEW_CODE\n", ["A,01/01/2012,01/05/2023,PN1"])
    people = _csv(tmp_path, "people.csv", "person_id,family_id,first_name,last_name,date_of_birth,relationship\n", ["P1,F1,A,B,2012-01-01,child"])
    bom = tmp_path / "903 eps.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (EPISODES + _ep("A", "01/05/2023", "S") + "\n").encode())
    assert (ssda903_table(reviews), ssda903_table(people), ssda903_table(bom)) == ("reviews", None, "episodes")
    utf16 = _csv(tmp_path, "SSDA903_2024_header.csv", HEADER_903, ["A,1,01/01/2012,WBRI,UN1,,"], encoding="utf-16")
    with pytest.raises(InputError, match="UTF-16"):
        ssda903_table(utf16)
    utf16.unlink()
    raw = read_cohort(tmp_path, {"people": ["person_id", "family_id", "first_name", "last_name", "date_of_birth", "relationship"],
                                 "social_care": ["la_child_id", "upn", "date_of_birth", "episode_type", "start_date", "end_date"]})
    assert {i["file"]: i["reason"] for i in raw.ignored} == {
        "whatever.csv": "the SSDA903 reviews table: not read (tfclaims reads the 903 header and episodes tables)"}
    (r,) = raw.returns
    assert r.source == "SSDA903" and r.coverage[0].collection_year == 2024  # 1 May 2023 is in the year to 31 March 2024
    assert "taken from the latest date" in r.findings["problem"].iloc[0]


def test_return_options_come_from_the_council_config(tmp_path):
    from tfclaims.core.config import CouncilConfig

    config = CouncilConfig.model_validate({"returns": {"include_903_short_breaks": True}, "reader_limits": {"max_return_bytes": 5}})
    options = ReturnOptions.of(config.returns, config.reader_limits)
    assert dataclasses.astuple(options)[:3] == (False, True, 5)
    with pytest.raises(Exception, match="include_cin_nfa"):
        CouncilConfig.model_validate({"returns": {"include_cin_nfa": True}})


# ----------------------------------------------------------------------------------------------
# the data dictionary's mapping tables, row by row

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
_ROW = re.compile(r"^\| (?:(Header|Episodes) \| )?`([^`]+)`[^|]* \| ([^|]*) \|")


def _mapping_rows(section: str) -> list[tuple[str, str]]:
    """(field, contract column) of each row of a returns mapping table whose field becomes a column."""
    text = DICTIONARY.read_text(encoding="utf-8")
    body = text[text.index(section):]
    body = body[: body.index("\n### ", 1)] if "\n### " in body[1:] else body
    out = []
    for line in body.splitlines():
        m = _ROW.match(line)
        if m:
            column = re.search(r"`([a-z_]+)`", m.group(3))
            if column and column.group(1) not in ("local_events", "cin", "cp", "lac"):
                out.append(((m.group(1) + "." if m.group(1) else "") + m.group(2), column.group(1)))
    return out


def test_each_cin_field_the_dictionary_maps_lands_in_its_column(tmp_path):
    values = {"ChildIdentifiers/LAchildID": "0042", "ChildIdentifiers/UPN": _with_check("999123456702"),
              "ChildIdentifiers/PersonBirthDate": "2011-11-11", "CINdetails/CINreferralDate": "2021-04-02",
              "CINdetails/CINclosureDate": "2021-09-03", "ChildProtectionPlans/CPPstartDate": "2021-05-04",
              "ChildProtectionPlans/CPPendDate": "2021-08-05", "Assessments/AssessmentAuthorisationDate": "2021-04-20"}
    v = values
    child = (f"<Child><ChildIdentifiers><LAchildID>{v['ChildIdentifiers/LAchildID']}</LAchildID><UPN>{v['ChildIdentifiers/UPN']}</UPN>"
             f"<PersonBirthDate>{v['ChildIdentifiers/PersonBirthDate']}</PersonBirthDate></ChildIdentifiers><CINdetails>"
             f"<CINreferralDate>{v['CINdetails/CINreferralDate']}</CINreferralDate><CINclosureDate>{v['CINdetails/CINclosureDate']}</CINclosureDate>"
             f"<ReasonForClosure>RC1</ReasonForClosure><Assessments><AssessmentAuthorisationDate>{v['Assessments/AssessmentAuthorisationDate']}"
             "</AssessmentAuthorisationDate><FactorsIdentifiedAtAssessment><AssessmentFactors>3A</AssessmentFactors></FactorsIdentifiedAtAssessment>"
             f"</Assessments><ChildProtectionPlans><CPPstartDate>{v['ChildProtectionPlans/CPPstartDate']}</CPPstartDate>"
             f"<CPPendDate>{v['ChildProtectionPlans/CPPendDate']}</CPPendDate></ChildProtectionPlans></CINdetails></Child>\n")
    rows = read_cin_census([_cin(tmp_path, "c.xml", 2022, child)], ReturnOptions(factor_codes=frozenset({"CIN_3A"})))
    by_element = {x.sheet: x.frame.iloc[0] for x in rows.parts}
    element_of = {"CINdetails": "CINdetails", "ChildProtectionPlans": "ChildProtectionPlans", "Assessments": "AssessmentFactors",
                  "ChildIdentifiers": "CINdetails"}
    mapped = _mapping_rows("### CIN census (XML)")
    assert {f for f, _ in mapped} == set(values)  # every field the dictionary maps, and only those
    for field_path, column in mapped:
        got = by_element[element_of[field_path.split("/")[0]]][column]
        assert got == values[field_path], (field_path, column, got)


def test_each_903_field_the_dictionary_maps_lands_in_its_column(tmp_path):
    upn = _with_check("999123456703")
    e = _csv(tmp_path, "SSDA903_2022_episodes.csv", EPISODES, [_ep("0077", "02/05/2021", "S", "03/09/2021", "E4A")])
    h = _csv(tmp_path, "SSDA903_2022_header.csv", HEADER_903, [f"0077,1,04/06/2012,WBRI,{upn},,"])
    spell = read_ssda903([e, h], ReturnOptions()).parts[0].frame.iloc[0]
    expected = {"Header.CHILD": "0077", "Header.UPN": upn, "Header.DOB": "2012-06-04", "Episodes.CHILD": "0077",
                "Episodes.DECOM": "2021-05-02", "Episodes.DEC": "2021-09-03"}
    mapped = _mapping_rows("### SSDA903 (CSV)")
    assert {f for f, _ in mapped} == set(expected)
    for field_path, column in mapped:
        assert spell[column] == expected[field_path], (field_path, column, spell[column])


def test_a_2022_census_with_cin_plans_section_47_and_factor_24a(tmp_path):
    """CINPlanDates (from 2022) and Section47 are not rows and not findings; 24A (child criminal
    exploitation, from 2022) is a factor a plan may declare."""
    child = """<Child><ChildIdentifiers><LAchildID>5</LAchildID><PersonBirthDate>2008-03-03</PersonBirthDate><Sex>F</Sex></ChildIdentifiers>
<CINdetails><CINreferralDate>2021-06-01</CINreferralDate><ReferralSource>3A</ReferralSource><PrimaryNeedCode>N1</PrimaryNeedCode><ReferralNFA>0</ReferralNFA>
<Assessments><AssessmentActualStartDate>2021-06-02</AssessmentActualStartDate><AssessmentAuthorisationDate>2021-06-30</AssessmentAuthorisationDate>
<FactorsIdentifiedAtAssessment><AssessmentFactors>24A</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments>
<CINPlanDates><CINPlanStartDate>2021-07-01</CINPlanStartDate><CINPlanEndDate>2021-12-01</CINPlanEndDate></CINPlanDates>
<Section47><S47ActualStartDate>2021-06-05</S47ActualStartDate><ICPCnotRequired>1</ICPCnotRequired></Section47>
</CINdetails></Child>
"""
    rows = read_cin_census([_cin(tmp_path, "cin_2022.xml", 2022, child)], ReturnOptions(factor_codes=frozenset({"cin_24a"})))
    assert rows.findings.empty and rows.left_out.empty and rows.read == rows.used == 2
    tables = sorted((x.table, x.sheet, len(x.frame)) for x in rows.parts)
    assert tables == [("local_events", "AssessmentFactors", 1), ("social_care", "CINdetails", 1)]
    factor = next(x.frame for x in rows.parts if x.table == "local_events").iloc[0]
    assert (factor["code"], factor["event_date"]) == ("cin_24a", "2021-06-30")  # the plan's own spelling of the code
