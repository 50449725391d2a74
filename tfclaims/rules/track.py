"""Outcomes of every attached family at an as-of date A, and the per-family facts a claim needs.

For each family in ``programme`` with ``attached_on <= A``:

- **required headlines**: present at ``attached_on``, plus (tf-phase2) present at A, plus the
  headline of every needs row identified in ``(attached_on, A]`` and not withdrawn;
- each required headline's **status** at A -- ``met``, ``not_met``, ``not_yet`` or
  ``not_evaluated`` (first of ``not_evaluated``, ``not_met``, ``not_yet`` wins) -- from its success
  measure (``tfclaims.rules.measures.MEASURE_REGISTRY``) and its needs rows, with a sentence saying why;
- the claim facts: eligibility at attachment, whole-family working, SSP, continuous employment,
  sf-2022's successful family outcome, programme period, discretion note.

Everything is evaluated with whole-table numpy masks over the coded cohort
(:class:`tfclaims.rules.indicators.RulesContext`); details are built with vectorised string operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfclaims.schemas.rules import validate_output
from tfclaims.core.cohort import Cohort
from tfclaims.rules.frameworks import Framework
from tfclaims.rules.indicators import (
    NAT,
    NS,
    RulesContext,
    Scope,
    code_mask,
    empty_raw_evidence,
    iso,
    raw_evidence,
    shift_days,
    shift_months,
)
from tfclaims.rules.kernel import (
    MET,
    NEEDS_INDICATOR,
    NOT_EVALUATED,
    NOT_MET,
    NOT_YET,
    STATUS_NAMES,
    Presence,
    Reasons,
    cat,
    context,
    empty_evidence,
    family_strings,
    headline_strings,
    lazy,
    materialise_evidence,
    needs_headline_index,
    not_evaluated,
    presence,
    presence_on,
    str_array,
    str_take,
    who,
)
from tfclaims.rules.measures import MEASURE_REGISTRY, HeadlineFrame, MeasureContext

__all__ = ["CE_HEADLINE", "TrackResult", "track"]

CE_HEADLINE = "continuous_employment"


@dataclass
class TrackResult:
    outcomes: pd.DataFrame  # family_id, as_of, headline, status, detail
    families: pd.DataFrame  # one row per attached family (schemas.rules.FamilySummary)
    evidence: pd.DataFrame  # outcome evidence (evidence columns)
    attachment_evidence: pd.DataFrame  # eligibility evidence at each family's attached_on
    not_evaluated: pd.DataFrame  # headline, indicator, missing_table
    programme_supplied: bool = True
    notes: list[str] = field(default_factory=list)

    def stage_counts(self) -> str:
        return f"{len(self.families):,} attached families, {len(self.outcomes):,} outcome rows"


# --------------------------------------------------------------------------------------------
# the main entry point
# --------------------------------------------------------------------------------------------


def track(cohort: Cohort | RulesContext, framework: Framework, as_of: object, *, evidence: bool = True) -> TrackResult:
    """Outcomes of every family with ``programme.attached_on <= as_of``, at ``as_of``. Dated
    parameters: eligibility at attachment by the values in force at each family's attached_on,
    everything else (success measures, claim facts) by those in force at ``as_of``.

    ``evidence=False`` leaves the evidence tables empty (a look-ahead that judges many dates reads
    only the outcomes and the family summary); every status and sentence is the same."""
    ctx = context(cohort)
    A = np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns")
    # success measures, continuous employment and the programme facts: the rules in force at A;
    # presence at attachment (below) takes each family's rules at its own attached_on
    framework = framework.at(A)
    ne_frame, _ = not_evaluated(ctx, framework)
    prog = ctx.cohort.get("programme")
    if prog is None:
        return _empty_result(ne_frame, "programme not supplied: no family is attached, nothing to track")
    prog = prog.reset_index(drop=True)
    n_fam = ctx.n_families
    pfam = ctx.families.get_indexer(prog["family_id"].astype("str"))
    attached_on = np.full(n_fam, NAT)
    attached_on[pfam] = _date_col(prog, "attached_on")
    attached = ~np.isnat(attached_on) & (attached_on <= A)
    fams = np.flatnonzero(attached)
    order = np.argsort(ctx.family_rank[fams], kind="stable")
    fams = fams[order]
    if len(fams) == 0:
        return _empty_result(ne_frame, "no family is attached on or before the as-of date")

    def per_fam(col: str) -> np.ndarray:
        arr = np.full(n_fam, NAT)
        arr[pfam] = _date_col(prog, col)
        return arr

    closed_on = per_fam("closed_on")
    att = np.where(attached, attached_on, NAT)
    at_a = np.where(attached, A, NAT)

    p_att = presence(ctx, framework, att)
    n_h = len(framework.headlines)
    required = _required(ctx, framework, p_att, at_a, att, A)

    reasons = Reasons(n_h)
    needs_keys = _needs_reasons(ctx, framework, reasons, required, att, A)
    mc = MeasureContext(ctx, A, att, closed_on, Scope(ctx, at_a), n_h, needs_keys)
    for h, spec in enumerate(framework.headlines.values()):
        keys_h = required[required % n_h == h]
        if len(keys_h):
            reasons.extend(MEASURE_REGISTRY[spec.measure].evaluate(mc, HeadlineFrame(spec, h, keys_h, keys_h // n_h)))
    if framework.outcome_model == "sfo":
        _closure_timing(framework, reasons, required, closed_on, A)

    status, detail = _decide(mc, framework, reasons, required)
    outcomes = pd.DataFrame(
        {
            "family_id": family_strings(ctx, required // n_h),
            "as_of": np.full(len(required), A),
            "headline": str_take(framework.headline_codes, required % n_h),
            "status": str_take(STATUS_NAMES, status),
            "detail": str_array(detail),
        }
    ).sort_values(["family_id", "headline"], kind="stable", ignore_index=True)

    ce, ce_detail, ce_ev = _continuous_employment(ctx, framework, fams, att, A)
    if len(ce_ev):
        reasons.add_evidence(ce_ev, -1)
    summary = _summary(ctx, framework, prog, pfam, fams, att, closed_on, A, p_att, required, status, ce, ce_detail)

    ev = pd.concat(reasons.evidence, ignore_index=True) if reasons.evidence else empty_raw_evidence().assign(h=np.array([], "int64"))
    codes = (*framework.headline_codes, CE_HEADLINE)
    ev["h"] = np.where(ev["h"].to_numpy(dtype="int64") < 0, len(codes) - 1, ev["h"].to_numpy(dtype="int64"))
    ev = ev.drop_duplicates(["fam", "h", "table", "row", "indicator"])
    att_ev = p_att.evidence[attached[p_att.evidence["fam"].to_numpy(dtype="int64")]] if len(p_att.evidence) else p_att.evidence

    return TrackResult(
        outcomes=validate_output(outcomes, "outcomes"),
        families=validate_output(summary, "family_summary"),
        evidence=validate_output(materialise_evidence(ctx, ev, codes), "outcome_evidence") if evidence else empty_evidence(),
        attachment_evidence=(validate_output(materialise_evidence(ctx, att_ev, framework.headline_codes), "eligibility_evidence")
                             if evidence else empty_evidence()),
        not_evaluated=ne_frame,
    )


def _date_col(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), NAT)
    return pd.to_datetime(frame[col]).to_numpy(dtype=NS)


def _text_col(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    return frame[col].astype("str").fillna("").str.strip().to_numpy(dtype=object)


# --------------------------------------------------------------------------------------------
# required headlines and needs rows
# --------------------------------------------------------------------------------------------


def _required(ctx: RulesContext, fw: Framework, p_att: Presence, at_a: np.ndarray, att: np.ndarray, A: np.datetime64) -> np.ndarray:
    """Sorted keys fam * H + h of the required headlines of every attached family."""
    n_h = len(fw.headlines)
    parts = [p_att.pair_fam * n_h + p_att.pair_h]
    if fw.required_headlines.present_at_as_of:
        p_a = presence_on(ctx, fw, A)
        on = ~np.isnat(at_a[p_a.pair_fam])  # attached families only
        parts.append(p_a.pair_fam[on] * n_h + p_a.pair_h[on])
    t = ctx.prepared("needs")
    if t is not None:
        h = needs_headline_index(ctx, fw)
        assert h is not None
        identified = t.date("identified_on")
        a = att[t.fam]
        new = (h >= 0) & ~np.isnat(a) & (identified > a) & (identified <= A) & ~t.eq("outcome", "withdrawn")
        parts.append(t.fam[new] * n_h + h[new])
    return np.unique(np.concatenate(parts).astype("int64"))


def _needs_reasons(ctx: RulesContext, fw: Framework, reasons: Reasons, required: np.ndarray, att: np.ndarray, A: np.datetime64) -> np.ndarray | None:
    """Every needs row of a required headline that counts at A must be met by A. Returns the keys
    of the needs rows that count (None when needs was not supplied)."""
    n_h = len(fw.headlines)
    t = ctx.prepared("needs")
    if t is None:
        reasons.add(required, NOT_EVALUATED, "not evaluated: needs not supplied (practitioner-recorded needs cannot be checked)")
        return None
    h = needs_headline_index(ctx, fw)
    assert h is not None
    identified, outcome, outcome_on = t.date("identified_on"), t.text("outcome"), t.date("outcome_on")
    counts = (h >= 0) & ~np.isnat(att[t.fam]) & (identified <= A) & (outcome != "withdrawn")
    key = t.fam * n_h + np.where(h >= 0, h, 0)
    counts &= np.isin(key, required)
    sel = np.flatnonzero(counts)
    k, o, d, idf, person = key[sel], outcome[sel], outcome_on[sel], identified[sel], t.person[sel]
    a_str = str(np.datetime_as_string(A, unit="D"))

    def what(person: np.ndarray, idf: np.ndarray) -> np.ndarray:
        return cat(who(ctx, person), ": need identified on ", iso(idf))

    def not_met_detail(person: np.ndarray, idf: np.ndarray, d: np.ndarray) -> np.ndarray:
        return cat(what(person, idf), " recorded not met on ", iso(d))

    def late_detail(person: np.ndarray, idf: np.ndarray, d: np.ndarray, o: np.ndarray) -> np.ndarray:
        w = what(person, idf)
        out = np.empty(len(w), dtype=object)
        still = o == "open"
        out[still] = cat(w[still], " still open at ", a_str)
        out[~still] = cat(w[~still], " closed ", o[~still], " on ", iso(d[~still]), ", after ", a_str)
        return out

    met = (o == "met") & (d <= A)
    not_met = (o == "not_met") & (d <= A)
    late = ~met & ~not_met
    reasons.add(k[not_met], NOT_MET, lazy(not_met_detail, person[not_met], idf[not_met], d[not_met]))
    reasons.add(k[late], NOT_YET, lazy(late_detail, person[late], idf[late], d[late], o[late]))
    ev = raw_evidence(t, sel, NEEDS_INDICATOR, identified)
    reasons.add_evidence(ev, h[sel])
    return k


# --------------------------------------------------------------------------------------------
# framework-level timing and deciding each headline's status
# --------------------------------------------------------------------------------------------


def _closure_timing(fw: Framework, reasons: Reasons, required: np.ndarray, closed_on: np.ndarray, A: np.datetime64) -> None:
    """sf-2022: outcomes are judged ``sustain_after_closure_months`` after closure."""
    assert fw.sfo is not None
    months = fw.sfo.sustain_after_closure_months
    fam = required // reasons.n_h
    c = closed_on[fam]
    not_closed = np.isnat(c) | (c > A)
    reasons.add(required[not_closed], NOT_YET, f"the family is not closed by {np.datetime_as_string(A, unit='D')}; outcomes are judged {months} months after closure")
    due = shift_months(c, months)
    early = ~not_closed & (due > A)
    reasons.add(required[early], NOT_YET, lazy(lambda c_, d_: cat(f"the {months} months after closure on ", iso(c_), " end on ", iso(d_)), c[early], due[early]))


# --------------------------------------------------------------------------------------------
# deciding each headline's status
# --------------------------------------------------------------------------------------------


def _decide(mc: MeasureContext, fw: Framework, reasons: Reasons, required: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Status and detail of every required headline; a met one says what its measure checked."""
    status, detail = reasons.decide(required)
    met = np.flatnonzero(status == MET)
    if len(met):
        hs, fams = required[met] % mc.n_headlines, required[met] // mc.n_headlines
        for h, spec in enumerate(fw.headlines.values()):
            m = hs == h
            if m.any():
                detail[met[m]] = MEASURE_REGISTRY[spec.measure].met_detail(mc, spec, fams[m])
    return status, detail


# --------------------------------------------------------------------------------------------
# continuous employment, whole-family working and the family summary
# --------------------------------------------------------------------------------------------


def _continuous_employment(ctx: RulesContext, fw: Framework, fams: np.ndarray, att: np.ndarray, A: np.datetime64) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Per attached family (aligned with ``fams``): whether some adult moved from an out-of-work
    benefit into W weeks of continuous employment, a sentence, and the evidence rows."""
    n = len(fams)
    ce = np.zeros(n, dtype=bool)
    ce_fw = fw.continuous_employment
    if ce_fw is None or "continuous_employment" not in fw.claim_routes:
        return ce, np.full(n, "not a claim route of this framework", dtype=object), empty_raw_evidence()
    ben, emp = ctx.prepared("benefits"), ctx.prepared("employment")
    if ben is None or emp is None:
        missing = ", ".join(t for t in ("benefits", "employment") if not ctx.supplied(t))
        return ce, np.full(n, f"not evaluated: {missing} not supplied", dtype=object), empty_raw_evidence()
    detail = np.full(n, f"no adult had an out-of-work benefit in the {ce_fw.benefit_window_months} months to attachment", dtype=object)
    want = np.zeros(ctx.n_families, dtype=bool)
    want[fams] = True
    scope_att = Scope(ctx, np.where(want, att, NAT))
    oow = ben.isin("benefit_type", fw.out_of_work_benefits) & (ben.person >= 0)
    bs, be = ben.date("start_date"), ben.date("end_date")
    adult = np.zeros(len(ben.rows), dtype=bool)
    adult[ben.person >= 0] = scope_att.status.adult[ben.person[ben.person >= 0]]
    a = att[ben.fam]
    w_start = shift_months(a, -ce_fw.benefit_window_months)
    in_window = oow & adult & want[ben.fam] & (bs <= a) & (np.isnat(be) | (be > w_start))
    cand = np.flatnonzero(in_window)
    if len(cand) == 0:
        return ce, detail, empty_raw_evidence()
    # the latest spell per adult: latest start; on a tie the open or later-ending one
    end_key = np.where(np.isnat(be[cand]), np.iinfo("int64").max, be[cand].astype("int64"))
    order = np.lexsort((-end_key, -bs[cand].astype("int64"), ben.person[cand]))
    c = cand[order]
    firsts = np.r_[True, ben.person[c][1:] != ben.person[c][:-1]]
    latest = c[firsts]
    adults = ben.person[latest]
    latest_type = ben.text_at("benefit_type", latest)
    long = np.isin(latest_type, list(ce_fw.long_weeks_benefits))
    weeks = np.where(long, ce_fw.long_weeks, ce_fw.short_weeks).astype("int64")
    widx = np.full(len(ctx.person_ids), -1, dtype="int64")
    widx[adults] = np.arange(len(adults))
    has_cand = np.zeros(ctx.n_families, dtype=bool)
    has_cand[ctx.person_family[adults]] = True
    # employment spells of those adults starting on or after attachment, lasting W weeks by A
    ej = np.where(emp.person >= 0, widx[np.where(emp.person >= 0, emp.person, 0)], -1)
    es, ee = emp.date("start_date"), emp.date("end_date")
    jj = np.where(ej >= 0, ej, 0)
    w_days = weeks[jj] * 7
    stop = np.minimum(np.where(np.isnat(ee), A, ee), A)
    reached = shift_days(es, w_days)
    ok = (ej >= 0) & (es >= att[emp.fam]) & ~np.isnat(es) & (reached <= stop)
    good = np.flatnonzero(ok)
    if len(good):
        # no out-of-work spell of that adult overlapping [start, start + 7W days)
        e_frame = pd.DataFrame({"e": good, "person": emp.person[good], "s": es[good], "x": reached[good]})
        b_all = np.flatnonzero(oow)
        b_frame = pd.DataFrame({"person": ben.person[b_all], "bs": bs[b_all], "be": be[b_all]})
        m = e_frame.merge(b_frame, on="person", how="inner")
        clash = (m["bs"].to_numpy() < m["x"].to_numpy()) & (m["be"].isna().to_numpy() | (m["be"].to_numpy() >= m["s"].to_numpy()))
        bad_e = np.unique(m["e"].to_numpy()[clash])
        good = good[~np.isin(good, bad_e)]
    fam_pos = np.full(ctx.n_families, -1, dtype="int64")
    fam_pos[fams] = np.arange(n)
    no_job = has_cand[fams]
    detail[no_job] = (
        "no adult on an out-of-work benefit before attachment has an employment spell since attachment lasting "
        f"{ce_fw.long_weeks} weeks (after {'/'.join(ce_fw.long_weeks_benefits)}) or {ce_fw.short_weeks} weeks (other benefits) "
        f"without an out-of-work benefit, by {np.datetime_as_string(A, unit='D')}"
    )
    if len(good) == 0:
        return ce, detail, empty_raw_evidence()
    # one qualifying spell per family (earliest start, then person id) for the sentence
    g_order = np.lexsort((ctx.person_ids_obj[emp.person[good]].astype(str), es[good].astype("int64"), emp.fam[good]))
    g = good[g_order]
    first = g[np.r_[True, emp.fam[g][1:] != emp.fam[g][:-1]]]
    pos = fam_pos[emp.fam[first]]
    ce[pos] = True
    wk = weeks[ej[first]]
    detail[pos] = cat(
        who(ctx, emp.person[first]), ": employed from ", iso(es[first]), " for at least ", wk.astype(str).astype(object),
        " weeks by ", str(np.datetime_as_string(A, unit="D")), " after ", latest_type[ej[first]], " before attachment",
    )
    ev = pd.concat(
        [
            raw_evidence(emp, first, "employment_spell", es),
            raw_evidence(ben, latest[ej[first]], "out_of_work_benefit_before_attachment", bs),
        ],
        ignore_index=True,
    )
    return ce, detail, ev


def _wfw_local_evidence(ctx: RulesContext, fw: Framework, fams: np.ndarray, A: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Whole-family working's ``evidence_codes`` per family of ``fams``: whether each code has a
    ``local_events`` row of the family (a household row or a member's) dated on or before A, what is
    missing in words (the code's description from the plan) and what was found. None when the
    framework sets no codes; ``local_events`` not supplied: not evaluated, never met."""
    codes = fw.whole_family_working.evidence_codes
    if not codes:
        return None
    n = len(fams)
    a_str = str(np.datetime_as_string(A, unit="D"))

    def words(code: str) -> str:
        declared = fw.local_code(code)
        return f"{declared.description} ({declared.code})" if declared is not None else code

    t = ctx.prepared("local_events")
    if t is None:
        text = f"not evaluated: local_events not supplied, so {'; '.join(words(c) for c in codes)} cannot be checked"
        return np.zeros(n, dtype=bool), np.full(n, text, dtype=object), np.full(n, "", dtype=object)
    pos = np.full(ctx.n_families, -1, dtype="int64")
    pos[fams] = np.arange(n)
    d = t.date("event_date")
    base = (pos[t.fam] >= 0) & (d <= A)
    ok = np.ones(n, dtype=bool)
    missing = np.full(n, "", dtype=object)
    found = np.full(n, "", dtype=object)
    for code in codes:
        rows = np.flatnonzero(base & code_mask(t, (code,)))
        first = np.full(n, np.iinfo("int64").max, dtype="int64")
        np.minimum.at(first, pos[t.fam[rows]], d[rows].astype("int64"))
        has = first < np.iinfo("int64").max
        ok &= has
        gap = f"no record of {words(code)} by {a_str}"
        missing[~has] = np.where(missing[~has] == "", gap, cat(missing[~has], "; ", gap))
        seen = cat(str(fw.local_code(code).code if fw.local_code(code) else code), " on ", iso(first[has].astype(NS)))
        found[has] = np.where(found[has] == "", seen, cat(found[has], "; ", seen))
    return ok, missing, found


def _summary(ctx, fw: Framework, prog: pd.DataFrame, pfam, fams, att, closed_on, A, p_att: Presence, required, status, ce, ce_detail) -> pd.DataFrame:
    n_h = len(fw.headlines)
    n_fam = ctx.n_families
    row_of = np.full(n_fam, -1, dtype="int64")
    row_of[pfam] = np.arange(len(prog))
    rows = row_of[fams]
    lead = _text_col(prog, "lead_practitioner")[rows]
    wfa = _date_col(prog, "whole_family_assessment_on")[rows]
    plan = _date_col(prog, "action_plan_on")[rows]
    note = _text_col(prog, "discretion_note")[rows]
    has_lead = lead != ""
    has_wfa = ~np.isnat(wfa) & (wfa <= A)
    has_plan = ~np.isnat(plan) & (plan <= A)
    wfw = has_lead & has_wfa & has_plan
    a_str = str(np.datetime_as_string(A, unit="D"))
    # what is missing: one of 7 sentences by (lead, assessment, plan) present, the 8th is "working"
    missing_text = np.array(
        [
            ("" if lead_ else "no lead practitioner named; ") + ("" if wfa_ else f"no whole-family assessment by {a_str}; ") + ("" if plan_ else f"no action plan by {a_str}; ")
            for lead_ in (False, True) for wfa_ in (False, True) for plan_ in (False, True)
        ],
        dtype=object,
    )
    missing_text = np.array([t.rstrip("; ") for t in missing_text], dtype=object)
    wfw_text = missing_text[has_lead.astype("int64") * 4 + has_wfa.astype("int64") * 2 + has_plan.astype("int64")]
    wfw_text[wfw] = cat("lead practitioner ", lead[wfw], "; whole-family assessment on ", iso(wfa[wfw]), "; action plan on ", iso(plan[wfw]))
    local = _wfw_local_evidence(ctx, fw, fams, A)
    if local is not None:  # the plan's extra evidence codes (local_events)
        local_ok, local_missing, local_found = local
        short = ~wfw & ~local_ok
        wfw_text[short] = cat(wfw_text[short], "; ", local_missing[short])
        wfw_text[wfw & ~local_ok] = local_missing[wfw & ~local_ok]
        wfw_text[wfw & local_ok] = cat(wfw_text[wfw & local_ok], "; ", local_found[wfw & local_ok])
        wfw &= local_ok
    wfw_detail = str_array(wfw_text)

    pos = np.full(n_fam, -1, dtype="int64")
    pos[fams] = np.arange(len(fams))
    rf = pos[required // n_h]
    codes = np.array(fw.headline_codes, dtype=object)
    req_mask = np.zeros(len(fams), dtype="int64")
    unmet_mask = np.zeros(len(fams), dtype="int64")
    ne_mask = np.zeros(len(fams), dtype="int64")
    bits = np.int64(1) << (required % n_h).astype("int64")
    np.bitwise_or.at(req_mask, rf, bits)
    np.bitwise_or.at(unmet_mask, rf[status != MET], bits[status != MET])
    np.bitwise_or.at(ne_mask, rf[status == NOT_EVALUATED], bits[status == NOT_EVALUATED])
    n_req = np.bincount(rf, minlength=len(fams))
    all_met = (n_req > 0) & (unmet_mask == 0)

    # unmet text: "headline: status" for each required headline not met, in headline-code order.
    # Encode each family's statuses as one integer (base 4 over headlines in code order) and
    # spell out only the distinct combinations.
    alpha = np.argsort(np.argsort(codes.astype(str)))  # headline index -> rank by code
    unmet_code = np.zeros(len(fams), dtype="int64")
    um = status != MET
    np.add.at(unmet_code, rf[um], (status[um].astype("int64") + 1) * (np.int64(4) ** alpha[required[um] % n_h].astype("int64")))
    by_rank = codes[np.argsort(alpha)]
    uniq, inv = np.unique(unmet_code, return_inverse=True)
    texts = []
    for u in uniq:
        parts, u = [], int(u)
        for r_ in range(n_h):
            d_ = (u >> (2 * r_)) & 3
            if d_:
                parts.append(f"{by_rank[r_]}: {STATUS_NAMES[d_ - 1]}")
        texts.append("; ".join(parts))
    unmet_text = str_take(texts, inv) if len(fams) else pd.array([], dtype="str")

    a_fam = att[fams]
    c_fam = closed_on[fams]
    prog_dates = fw.programme
    lo, hi = np.datetime64(prog_dates.attachments_from, "ns"), np.datetime64(prog_dates.attachments_to, "ns")
    within = (a_fam >= lo) & (a_fam <= hi) & (A >= lo) & (A <= np.datetime64(prog_dates.period_end_to, "ns"))
    transition = np.zeros(len(fams), dtype=bool)
    if prog_dates.transition_before is not None:
        transition = a_fam < np.datetime64(prog_dates.transition_before, "ns")
    ssp = all_met & (fw.outcome_model == "ssp")
    sfo = np.zeros(len(fams), dtype=bool)
    if fw.outcome_model == "sfo" and fw.sfo is not None:
        closed_long_enough = ~np.isnat(c_fam) & (c_fam <= A) & (shift_months(c_fam, fw.sfo.sustain_after_closure_months) <= A)
        sfo = all_met & closed_long_enough
    return pd.DataFrame(
        {
            "family_id": family_strings(ctx, fams),
            "as_of": np.full(len(fams), A),
            "attached_on": a_fam,
            "closed_on": c_fam,
            "within_programme_period": within,
            "transition_manual_review": transition,
            "eligible_at_attachment": p_att.eligible[fams].astype(bool),
            "headline_count_at_attachment": p_att.headline_count[fams].astype("int64"),
            "headlines_at_attachment": headline_strings(fw, p_att.headline_mask[fams]),
            "required_headlines": headline_strings(fw, req_mask),
            "whole_family_working": wfw.astype(bool),
            "whole_family_working_detail": wfw_detail,
            "ssp": ssp.astype(bool),
            "continuous_employment": ce.astype(bool),
            "continuous_employment_detail": str_array(ce_detail),
            "sfo": sfo.astype(bool),
            "unmet": unmet_text,
            "not_evaluated": headline_strings(fw, ne_mask),
            "has_discretion_note": (note != "").astype(bool),
        }
    )


def _empty_result(ne_frame: pd.DataFrame, note: str) -> TrackResult:
    outcomes = pd.DataFrame(
        {
            "family_id": pd.array([], dtype="str"),
            "as_of": np.array([], dtype=NS),
            "headline": pd.array([], dtype="str"),
            "status": pd.array([], dtype="str"),
            "detail": pd.array([], dtype="str"),
        }
    )
    cols = {
        "family_id": pd.array([], dtype="str"), "as_of": np.array([], dtype=NS), "attached_on": np.array([], dtype=NS),
        "closed_on": np.array([], dtype=NS), "within_programme_period": np.array([], bool), "transition_manual_review": np.array([], bool),
        "eligible_at_attachment": np.array([], bool), "headline_count_at_attachment": np.array([], "int64"),
        "headlines_at_attachment": pd.array([], dtype="str"), "required_headlines": pd.array([], dtype="str"),
        "whole_family_working": np.array([], bool), "whole_family_working_detail": pd.array([], dtype="str"),
        "ssp": np.array([], bool), "continuous_employment": np.array([], bool), "continuous_employment_detail": pd.array([], dtype="str"),
        "sfo": np.array([], bool), "unmet": pd.array([], dtype="str"), "not_evaluated": pd.array([], dtype="str"),
        "has_discretion_note": np.array([], bool),
    }
    return TrackResult(
        outcomes=validate_output(outcomes, "outcomes"),
        families=validate_output(pd.DataFrame(cols), "family_summary"),
        evidence=empty_evidence(),
        attachment_evidence=empty_evidence(),
        not_evaluated=ne_frame,
        programme_supplied="programme not supplied" not in note,
        notes=[note],
    )
