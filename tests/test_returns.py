"""The children's social care returns as cohort sources, end to end.

The sample cohort's own cin, cp and lac episodes are written out as the council would hold them: one
CIN census XML file per collection year (each episode in every year it is open, its closure only in
the year it closed) and SSDA903 header and episode files; ``people`` is given the council's child
ids. Ingest, link, identify and track must then give exactly what a hand-made ``social_care`` table
holding the same episodes gives; and after the latest return's reference date, what social care
would decide is not evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.cli import main
from tfclaims.core.errors import ConfigError
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.ingest.validate import ingest
from tfclaims.link.passes import link
from tfclaims.rules.frameworks import load_framework
from tfclaims.rules.identify import clear_context_cache, identify
from tfclaims.rules.track import track

AS_OF = dt.date(2021, 3, 31)


def _child_id(person_id: str) -> str:
    return "0" + person_id.removeprefix("P")  # the council's own id: another number, with a leading zero


def _years(start: dt.date, end: dt.date | None) -> range:
    """The collection years (ending 31 March) an episode from ``start`` to ``end`` is in."""
    first = start.year + (1 if start >= dt.date(start.year, 4, 1) else 0)
    last_day = end or dt.date(2022, 3, 31)
    last = last_day.year + (1 if last_day >= dt.date(last_day.year, 4, 1) else 0)
    return range(first, last + 1)


def _d(v: object) -> dt.date | None:
    return None if pd.isna(v) else dt.date.fromisoformat(str(v))


def _cin_file(year: int, children: dict[str, list[str]]) -> str:
    body = "".join(
        f"<Child><ChildIdentifiers><LAchildID>{cid}</LAchildID><UPNunknown>UN1</UPNunknown>"
        f"<PersonBirthDate>2010-01-01</PersonBirthDate><Sex>M</Sex></ChildIdentifiers>{''.join(details)}</Child>"
        for cid, details in children.items()
    )
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Message><Header><CollectionDetails><Collection>CIN</Collection>'
            f"<Year>{year}</Year><ReferenceDate>{year}-03-31</ReferenceDate></CollectionDetails>"
            f"<Source><SourceLevel>L</SourceLevel><LEA>999</LEA><SoftwareCode>test</SoftwareCode><Release>1</Release>"
            f"<SerialNo>1</SerialNo><DateTime>{year}-05-01T09:00:00</DateTime></Source></Header>"
            f"<Children>{body}</Children></Message>\n")


def _in_year(start: dt.date, end: dt.date | None, year: int) -> tuple[bool, str]:
    """Whether an episode is in the year's return, and the closure date that return shows."""
    ref = dt.date(year, 3, 31)
    open_from = dt.date(year - 1, 4, 1)
    present = start <= ref and (end is None or end >= open_from)
    shown = end.isoformat() if end is not None and end <= ref else ""
    return present, shown


def write_returns(cohort: Path, episodes: pd.DataFrame) -> None:
    """CIN census files (cin, with each cp inside the cin episode it falls in) and 903 files (lac)."""
    years: dict[int, dict[str, list[str]]] = {}
    cin = episodes[episodes["episode_type"] == "cin"]
    cp = episodes[episodes["episode_type"] == "cp"]
    for _, e in cin.iterrows():
        start, end = _d(e["start_date"]), _d(e["end_date"])
        plans = cp[(cp["person_id"] == e["person_id"]) & (cp["start_date"] >= e["start_date"])
                   & (cp["start_date"] <= (e["end_date"] if pd.notna(e["end_date"]) else "9999"))]
        for year in _years(start, end):
            present, shown = _in_year(start, end, year)
            if not present:
                continue
            cpp = ""
            for _, p in plans.iterrows():
                p_start, p_end = _d(p["start_date"]), _d(p["end_date"])
                p_present, p_shown = _in_year(p_start, p_end, year)
                if p_present:
                    cpp += (f"<ChildProtectionPlans><CPPstartDate>{p_start}</CPPstartDate><CPPendDate>{p_shown}</CPPendDate>"
                            "<InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse></ChildProtectionPlans>")
            closure = f"<CINclosureDate>{shown}</CINclosureDate><ReasonForClosure>RC7</ReasonForClosure>" if shown else ""
            detail = (f"<CINdetails><CINreferralDate>{start}</CINreferralDate><ReferralSource>1A</ReferralSource>"
                      f"<PrimaryNeedCode>N1</PrimaryNeedCode>{closure}<ReferralNFA>0</ReferralNFA>{cpp}</CINdetails>")
            years.setdefault(year, {}).setdefault(_child_id(e["person_id"]), []).append(detail)
    for year, children in years.items():
        (cohort / f"cin census {year}.xml").write_text(_cin_file(year, children), encoding="utf-8")
    lac = episodes[episodes["episode_type"] == "lac"]
    by_year: dict[int, list[str]] = {}
    for _, e in lac.iterrows():
        start, end = _d(e["start_date"]), _d(e["end_date"])
        for year in _years(start, end):
            present, shown = _in_year(start, end, year)
            if present:
                dec = dt.date.fromisoformat(shown).strftime("%d/%m/%Y") if shown else ""
                rec = "E4A" if shown else ""
                by_year.setdefault(year, []).append(
                    f"{_child_id(e['person_id'])},{start.strftime('%d/%m/%Y')},S,C2,N1,U1,PR1,{dec},{rec},,,,")
    for year in years:  # a 903 return every year the census has, with or without a looked-after child of the cohort
        rows = by_year.get(year, [])
        (cohort / f"SSDA903_{year}_episodes.csv").write_text(
            "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n" + "".join(r + "\n" for r in rows))
        ids = sorted({r.split(",")[0] for r in rows})
        (cohort / f"SSDA903_{year}_header.csv").write_text(
            "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n" + "".join(f"{c},1,01/01/2010,WBRI,UN1,,\n" for c in ids))


def _reference_episodes() -> pd.DataFrame:
    """The sample's cin/cp/lac episodes; a cp plan outside every cin episode is given one with its dates
    (a CIN census holds each plan inside an episode of need)."""
    sc = pd.read_csv(SAMPLE_COHORT_DIR / "social_care.csv", dtype=str)
    sc = sc[sc["episode_type"].isin(["cin", "cp", "lac"])].reset_index(drop=True)
    for c in ("start_date", "end_date"):  # the sample writes some dates day-first, as councils do
        uk = sc[c].str.contains("/", na=False)
        sc.loc[uk, c] = pd.to_datetime(sc.loc[uk, c], format="%d/%m/%Y").dt.strftime("%Y-%m-%d")
    cin, extra = sc[sc["episode_type"] == "cin"], []
    for _, p in sc[sc["episode_type"] == "cp"].iterrows():
        inside = cin[(cin["person_id"] == p["person_id"]) & (cin["start_date"] <= p["start_date"])
                     & (cin["end_date"].isna() | (cin["end_date"] >= p["start_date"]))]
        if inside.empty:
            extra.append({**p.to_dict(), "episode_type": "cin"})
    return pd.concat([sc, pd.DataFrame(extra)], ignore_index=True) if extra else sc


def _cohorts(tmp_path: Path, own_early_help: bool) -> tuple[Path, Path]:
    """(hand-made, from returns): the same episodes; early help (which no return holds) kept in a
    hand-made social_care table in both when ``own_early_help``."""
    episodes = _reference_episodes()
    early = pd.read_csv(SAMPLE_COHORT_DIR / "social_care.csv", dtype=str)
    early = early[early["episode_type"] == "early_help"]
    hand, returns = tmp_path / "hand", tmp_path / "returns"
    for folder in (hand, returns):
        shutil.copytree(SAMPLE_COHORT_DIR, folder, ignore=shutil.ignore_patterns("synth", "social_care.csv"))
    people = pd.read_csv(SAMPLE_COHORT_DIR / "people.csv", dtype=str, keep_default_na=False)
    children = set(episodes["person_id"])
    people["la_child_id"] = [_child_id(p) if p in children else "" for p in people["person_id"]]
    people.to_csv(returns / "people.csv", index=False)
    own = pd.concat([episodes, early], ignore_index=True) if own_early_help else episodes
    own.to_csv(hand / "social_care.csv", index=False)
    if own_early_help:
        early.to_csv(returns / "social_care.csv", index=False)
    write_returns(returns, episodes)
    return hand, returns


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def _decisions(folder: Path, as_of: dt.date, framework: str = "tf-phase2") -> tuple[pd.DataFrame, pd.DataFrame, object]:
    clear_context_cache()
    fw = load_framework(framework)
    result = ingest(folder)
    cohort = link(result.cohort).cohort
    elig = identify(cohort, fw, as_of).eligibility
    outcomes = track(cohort, fw, as_of).outcomes
    return elig, outcomes, result


@pytest.mark.parametrize("framework", ["tf-phase2", "sf-2022"])
def test_returns_give_the_same_eligibility_and_outcomes_as_a_hand_made_table(tmp_path, framework):
    hand, returns = _cohorts(tmp_path, own_early_help=True)
    assert sorted(p.name for p in returns.glob("cin census *.xml")), "the fixture writes CIN census files"
    elig_h, out_h, _ = _decisions(hand, AS_OF, framework)
    elig_r, out_r, result = _decisions(returns, AS_OF, framework)
    pd.testing.assert_frame_equal(elig_r, elig_h)
    pd.testing.assert_frame_equal(out_r.drop(columns=[], errors="ignore"), out_h)
    assert elig_h["eligible"].any()
    # every social_care row from the returns linked by the council's child id
    sc = link(result.cohort).cohort["social_care"]
    from_returns = sc[sc["episode_type"] != "early_help"]
    hand_sc = link(ingest(hand).cohort).cohort["social_care"]
    cols = ["person_id", "episode_type", "start_date", "end_date"]
    key = lambda f: f[f["episode_type"] != "early_help"][cols].sort_values(cols, ignore_index=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(from_returns), key(hand_sc))  # the same episodes, row for row
    assert set(from_returns["link_method"]) == {"la_child_id"}
    accepted = result.cohort["social_care"]
    assert (accepted["source_file"].str.startswith("SSDA903_") & (accepted["episode_type"] == "lac")).any()
    # a hand-made table beside the returns: complete to the day of the run, no coverage limit
    assert result.cohort.covered_to == {}
    for r in result.returns:
        assert r.reconciles()


def test_only_returns_social_care_is_known_to_the_latest_reference_date(tmp_path):
    hand, returns = _cohorts(tmp_path, own_early_help=False)
    elig_h, out_h, _ = _decisions(hand, AS_OF)
    elig_r, out_r, result = _decisions(returns, AS_OF)
    latest = max(c.reference_date for r in result.returns for c in r.coverage)
    assert result.cohort.covered_to == {"social_care": min(max(c.reference_date for c in r.coverage) for r in result.returns)}
    assert latest >= AS_OF
    pd.testing.assert_frame_equal(elig_r, elig_h)  # within coverage: the same decisions
    pd.testing.assert_frame_equal(out_r, out_h)
    # a year later than every return: what social care decides is not evaluated, never "no episode"
    later = dt.date(latest.year + 1, 3, 31)
    _, out_late_h, _ = _decisions(hand, later)
    _, out_late_r, _ = _decisions(returns, later)
    need = out_late_r[out_late_r["headline"] == "children_need_help"]
    assert len(need) and (need["status"] == "not_evaluated").all()
    assert need["detail"].str.contains(f"social_care is known only to {result.cohort.covered_to['social_care']}").all()
    assert (out_late_h.loc[out_late_h["headline"] == "children_need_help", "status"] != "not_evaluated").any()
    other = out_late_r["headline"] != "children_need_help"
    pd.testing.assert_frame_equal(out_late_r[other].reset_index(drop=True), out_late_h[out_late_h["headline"] != "children_need_help"].reset_index(drop=True))


def test_run_summary_counts_each_return_and_the_outputs_list_what_was_left_out(tmp_path, monkeypatch, capsys):
    _, returns = _cohorts(tmp_path, own_early_help=True)
    # a referral with no further action, left out by default
    nfa = returns / "cin census nfa.xml"
    nfa.write_text(_cin_file(2015, {"099999": ["<CINdetails><CINreferralDate>2014-06-01</CINreferralDate>"
                                               "<ReferralNFA>true</ReferralNFA></CINdetails>"]}), encoding="utf-8")
    out, ws = tmp_path / "out", tmp_path / "ws"
    monkeypatch.setenv("TFCLAIMS_ORCHESTRATOR", "none")
    assert _cli("init", str(ws)) == 0
    assert _cli("--workspace", str(ws), "validate", "--input", str(returns), "--out", str(out)) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    cin = next(r for r in summary["returns"] if r["source"] == "CIN census")
    assert cin["records_read"] == cin["records_used"] + cin["records_left_out"]
    assert any("no further action" in why for why in cin["left_out_by_reason"])
    left = pd.read_csv(out / "returns_left_out.csv", dtype=str)
    assert (left["file"] == nfa.name).any() and (left["child"] == "099999").any()
    assert "099999" not in json.dumps(summary)  # counts only: no child id in the summary
    printed = capsys.readouterr().out
    assert "CIN census" in printed and "records read" in printed


_FACTOR_PLAN = """extends: tf-phase2
name: factor-plan
version: "1"
approved_by: test
approved_on: 2024-04-01
local_codes:
  - {code: CIN_3B, description: "domestic abuse recorded at a CIN assessment, a parent or carer the subject", table: local_events, headlines: [domestic_abuse]}
add_indicators:
  domestic_abuse:
    factor_3b: {indicator: local_event, label: "domestic abuse factor (CIN assessment)", codes: [CIN_3B], window_months: 12}
overrides:
  headlines:
    domestic_abuse:
      success:
        indicators:
          %s
"""


def test_a_plan_may_identify_with_an_assessment_factor_but_never_judge_success_on_it(tmp_path):
    refused, accepted = tmp_path / "refused.yaml", tmp_path / "accepted.yaml"
    refused.write_text(_FACTOR_PLAN % "factor_3b: {indicator: local_event, codes: [CIN_3B], window_months: 12}")
    accepted.write_text(_FACTOR_PLAN % "domestic_abuse_incident: {}")
    with pytest.raises(ConfigError, match="assessment factor of the CIN census: .*never show success"):
        load_framework("tf-phase2", plan=refused)
    fw = load_framework("tf-phase2", plan=accepted)
    assert [i.code for i in fw.headlines["domestic_abuse"].indicators] == ["domestic_abuse_incident", "factor_3b"]
    assert [i.code for i in fw.headlines["domestic_abuse"].judged_indicators] == ["domestic_abuse_incident"]
