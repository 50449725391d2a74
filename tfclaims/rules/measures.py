"""The registered success measures: how a required headline is judged at an as-of date A.

A framework names one measure per headline (``success.measure``) with typed parameters. Each
measure is one :class:`SuccessMeasure` subclass, registered in :data:`MEASURE_REGISTRY` by its
``name``, with

- ``params_model``: the pydantic model of its parameters (what a framework or plan may set);
- ``outcome_models``: the outcome models (``ssp``, ``sfo``) it can judge a headline under;
- ``reads_indicators``: it judges indicator entries -- the headline's identifying indicators, or
  the entries of the headline's ``success.indicators`` (:attr:`HeadlineSpec.judged_indicators`);
- :meth:`SuccessMeasure.tables`: the tables it reads (not supplied, or known only to a day before
  the as-of date because they came from annual returns -> ``not_evaluated``);
- :meth:`SuccessMeasure.evaluate`: one vectorised pass over the families x headline frame
  (:class:`HeadlineFrame`) in a :class:`MeasureContext`, giving :class:`~tfclaims.rules.kernel.Reasons`:
  the reason rows (status and sentence) that make each family's status ``not_evaluated``,
  ``not_met`` or ``not_yet`` (``met`` when none), and the evidence rows;
- :meth:`SuccessMeasure.describe`: the plain-English sentence of a met headline, with
  ``{as_of}``, ``{attached_on}`` and ``{closed_on}`` filled per family by :meth:`SuccessMeasure.met_detail`.

Needs rows count for every measure and are judged once by track, not here.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from tfclaims.rules.indicators import (
    INDICATOR_NAMES,
    NAT,
    NS,
    AbsenceType,
    IndicatorParams,
    Params,
    PreparedTable,
    RulesContext,
    Scope,
    indicator_kind,
    indicator_label,
    iso,
    latest_school_terms,
    people_matching,
    raw_evidence,
    shift_months,
    term_table,
)
from tfclaims.rules.kernel import MET, NOT_EVALUATED, NOT_MET, NOT_YET, Detail, LazyWords, Reasons, cat, fill, lazy, pct, uncovered_words, who

if TYPE_CHECKING:  # frameworks imports this registry
    from tfclaims.rules.frameworks import HeadlineSpec, IndicatorSpec

__all__ = [
    "IDENTIFYING",
    "MEASURE_REGISTRY",
    "Alternative",
    "AllOf",
    "AllOfParams",
    "AnyOf",
    "AnyOfParams",
    "AttendanceImprovement",
    "AttendanceImprovementParams",
    "ComparativeReduction",
    "ComparativeReductionParams",
    "ContinuousStatus",
    "ContinuousStatusParams",
    "EducationSinceClosure",
    "EducationSinceClosureParams",
    "EducationTerms",
    "EducationTermsParams",
    "HeadlineFrame",
    "MeasureContext",
    "NeedsOnly",
    "NoParams",
    "NoRecurrenceSinceClosure",
    "NoRecurrenceWindow",
    "NoRecurrenceWindowParams",
    "SuccessMeasure",
    "indicator_labels",
    "register_measure",
]


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------


class NoRecurrenceWindowParams(Params):
    window_months: int = Field(6, ge=1, le=60, description="none of the headline's indicators in the N months to A")
    sustain_months: int = Field(6, ge=0, le=60, description="A must be at least N months after attached_on")


class EducationTermsParams(Params):
    terms: int = Field(3, ge=1, le=9, description="terms since attachment needed (the latest N are judged)")
    absence_threshold: float = Field(0.10, gt=0, le=1, description="a term's absence rate must be below this")
    min_suspensions: int = Field(3, ge=1, le=50, description="this many suspensions in the span fails")
    check_exclusions: bool = Field(True, description="permanent exclusions and suspensions are checked")
    absence_type: AbsenceType = Field("total", description="total (authorised + unauthorised) or unauthorised absence only")
    aggregate: bool = Field(False, description="false: each of the latest N terms below the threshold; true: the N terms together")


class EducationSinceClosureParams(Params):
    absence_threshold: float = Field(0.10, gt=0, le=1)
    min_suspensions: int = Field(3, ge=1, le=50)
    check_exclusions: bool = True
    absence_type: AbsenceType = Field("total", description="total (authorised + unauthorised) or unauthorised absence only")


class NoParams(Params):
    pass


class ComparativeReductionParams(Params):
    window_months: int = Field(6, ge=1, le=60, description="events are counted in the N months to A: (A - N months, A]")
    baseline_months: int = Field(6, ge=1, le=60, description="against the N months to attachment: (attached_on - N months, attached_on]")
    reduction_pct: float = Field(33, gt=0, le=100, description="met when the window's count is at most baseline x (1 - pct/100)")
    sustain_months: int = Field(6, ge=0, le=60, description="A must be at least N months after attached_on (not_yet before)")
    zero_baseline: Literal["require_none", "met"] = Field(
        "require_none", description="with no event in the baseline: require_none = met only with none in the window too; met = met"
    )


class ContinuousStatusParams(IndicatorParams):
    """``min_age``, ``max_age`` and ``relationships`` (at A) choose the members who must be covered."""

    codes: tuple[str, ...] = Field(min_length=1, description="local_spells codes that count (e.g. EET)")
    months: int = Field(12, ge=1, le=60, description="covered on every day of the N months to A")
    sustain_months: int | None = Field(None, ge=0, le=60, description="A at least N months after attached_on; blank = months")
    nobody: Literal["not_met", "met"] = Field(
        "not_met", description="a family with no member the filter chooses: not met (nobody shows the outcome), or met (nobody to judge, as a part of all_of)"
    )

    @property
    def sustain(self) -> int:
        return self.months if self.sustain_months is None else self.sustain_months


class AttendanceImprovementParams(Params):
    terms: int = Field(3, ge=1, le=9, description="terms since attachment needed (the latest N are judged)")
    baseline_terms: int = Field(3, ge=1, le=9, description="the baseline: the latest N terms ending on or before attachment")
    improve_by_pct: float = Field(0, ge=0, le=1000, description="attendance must rise by at least this % of the baseline (0 = any rise)")
    per_term: bool = Field(False, description="each of the latest N terms above the baseline, not the N terms together")
    only_below: float | None = Field(None, gt=0, le=1, description="only children whose baseline attendance is below this must improve; the others must not fall")
    absence_type: AbsenceType = Field("total", description="total (authorised + unauthorised) or unauthorised absence only")


IDENTIFYING = "identifying"  # ``success.indicators: identifying``: judge the headline's identifying indicators


@dataclass(frozen=True)
class Alternative:
    """One alternative of :class:`AnyOf`: a measure, its parameters and the indicator entries it
    judges (None = the headline's identifying indicators)."""

    measure: str
    params: Params
    indicators: tuple[IndicatorSpec, ...] | None = None


def _two_or_more(items: tuple[Any, ...], measure: str, what: str) -> None:
    """A composite measure's list: at least two success sections (each an :class:`Alternative`)."""
    if len(items) < 2 or not all(isinstance(a, Alternative) for a in items):
        raise ValueError(f"{measure} takes a list of at least two {what}")


class AnyOfParams(Params):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    alternatives: tuple[Any, ...] = Field(description="the alternatives (each an :class:`Alternative`), at least two")

    @model_validator(mode="after")
    def _alternatives(self) -> AnyOfParams:
        _two_or_more(self.alternatives, "any_of", "alternatives")
        return self


class AllOfParams(Params):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    parts: tuple[Any, ...] = Field(description="the parts (each an :class:`Alternative`), at least two, every one to be met")

    @model_validator(mode="after")
    def _parts(self) -> AllOfParams:
        _two_or_more(self.parts, "all_of", "parts")
        return self


# --------------------------------------------------------------------------------------------
# what a measure is evaluated over
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureContext:
    """One as-of date of one track run: what every measure may read."""

    ctx: RulesContext  # the cohort's coded tables
    as_of: np.datetime64
    attached_on: np.ndarray  # per family code; NaT = not attached by as_of
    closed_on: np.ndarray  # per family code; NaT = not closed
    scope: Scope  # the attached families at as_of
    n_headlines: int
    needs_keys: np.ndarray | None = None  # keys (fam * H + h) of needs rows counting at as_of; None = needs not supplied
    memo: dict[object, object] = field(default_factory=dict)  # what a measure's evaluate leaves for its met_detail

    @property
    def as_of_text(self) -> str:
        return str(np.datetime_as_string(self.as_of, unit="D"))


@dataclass(frozen=True)
class HeadlineFrame:
    """The families for which one headline is required: keys ``fam * H + h`` (sorted) and families."""

    spec: HeadlineSpec
    h: int
    keys: np.ndarray
    fams: np.ndarray


class SuccessMeasure(ABC):
    """A success measure: typed parameters, the tables it reads, a vectorised evaluation and a sentence."""

    name: ClassVar[str]
    params_model: ClassVar[type[Params]]
    reads_indicators: ClassVar[bool] = False  # judges indicator entries (the headline's, or its success.indicators)
    outcome_models: ClassVar[tuple[str, ...]] = ("ssp",)  # the outcome models it can judge a headline under
    composite: ClassVar[bool] = False  # made of other measures (any_of): not one of its own alternatives

    def own_tables(self, params: Params) -> tuple[str, ...]:
        """Tables read beyond needs and (when ``reads_indicators``) the judged indicators'."""
        return ()

    def tables(self, params: Params, indicator_tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Every table the measure reads: needs always, its own, the judged indicators' where used."""
        own = self.own_tables(params) + (indicator_tables if self.reads_indicators else ())
        return tuple(dict.fromkeys(("needs", *own)))

    def plan_defaults(self) -> dict[str, Any]:
        """The success section's keys with their defaults (what a plan may override):
        every parameter with a default, and ``indicators: identifying`` for a measure that judges indicators."""
        out = {k: f.get_default(call_default_factory=True) for k, f in self.params_model.model_fields.items() if not f.is_required()}
        if self.reads_indicators:
            out["indicators"] = IDENTIFYING
        return out

    def parse_params(self, raw: dict[str, Any], sub: Callable[[Any, str], Alternative]) -> Params:
        """The parameters from a success section (``measure`` and ``indicators`` taken out).
        ``sub(section, key)`` parses a nested success section at ``key`` (composite measures).
        A :class:`pydantic.ValidationError` names the key."""
        return self.params_model.model_validate(raw)

    def cannot_judge(self, spec: IndicatorSpec) -> str | None:
        """Why this measure cannot judge indicator entry ``spec`` (None when it can)."""
        return None

    def judged_entries(self, spec: HeadlineSpec) -> tuple[IndicatorSpec, ...]:
        """The indicator entries this measure judges for headline ``spec``."""
        return spec.judged_indicators if self.reads_indicators else ()

    def local_codes(self, params: Params) -> tuple[tuple[str, str, str], ...]:
        """(key under ``success``, local table, code) of each local code the parameters name."""
        return ()

    def evaluate(self, mc: MeasureContext, head: HeadlineFrame) -> Reasons:
        """The reasons (and evidence) deciding each family's status for ``head``; a family with
        none is ``met``. A table of the measure not supplied makes every family ``not_evaluated``."""
        reasons = Reasons(mc.n_headlines)
        missing = tuple(t for t in head.spec.measure_tables() if not mc.ctx.supplied(t) and t != "needs")
        if missing:
            reasons.add(head.keys, NOT_EVALUATED, f"not evaluated: {', '.join(missing)} not supplied")
        as_of = pd.Timestamp(mc.as_of).date()
        for t in head.spec.measure_tables():
            if t not in missing and not mc.ctx.cohort.covered_on(t, as_of):
                reasons.add(head.keys, NOT_EVALUATED, uncovered_words(t, mc.ctx.cohort.covered_to[t]))
        self.judge(mc, head, missing, reasons)
        return reasons

    @abstractmethod
    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        """Add the ``not_met`` / ``not_yet`` reasons and the evidence rows of ``head`` to ``reasons``."""

    @abstractmethod
    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        """The sentence of a met headline; ``{as_of}``, ``{attached_on}``, ``{closed_on}`` are filled per family."""

    def met_detail(self, mc: MeasureContext, spec: HeadlineSpec, fams: np.ndarray) -> np.ndarray:
        """:meth:`describe` filled for families ``fams`` (the detail of their met headline)."""
        template = self.describe(spec.measure_params, labels=indicator_labels(spec), headline=spec.code)
        return fill(template, {
            "as_of": lambda: mc.as_of_text,
            "attached_on": lambda: iso(mc.attached_on[fams]),
            "closed_on": lambda: iso(mc.closed_on[fams]),
        })


MEASURE_REGISTRY: dict[str, SuccessMeasure] = {}


def register_measure(cls: type[SuccessMeasure]) -> type[SuccessMeasure]:
    assert cls.name not in MEASURE_REGISTRY, cls.name
    MEASURE_REGISTRY[cls.name] = cls()
    return cls


def indicator_labels(spec: HeadlineSpec) -> str:
    """The judged indicators as words: "proven offence or ASB incident" ("problem" if none)."""
    return " or ".join(i.label for i in spec.judged_indicators) or "problem"


_NEEDS_MET = "; any needs rows met"


def _education_tables(params: Params) -> tuple[str, ...]:
    return ("school_attendance", "exclusions") if getattr(params, "check_exclusions", True) else ("school_attendance",)


# --------------------------------------------------------------------------------------------
# shared pieces of the measures
# --------------------------------------------------------------------------------------------


def _recurrence_details(ctx: RulesContext, ev: pd.DataFrame, tail: str | LazyWords, spell_tail: str | LazyWords) -> Detail:
    """'<who>: <label> on <date><tail>' for an event, '<who>: <label> from <date><spell_tail>' for a
    spell (which may have started before the window it overlaps), built lazily."""
    names = [INDICATOR_NAMES[i] for i in range(len(INDICATOR_NAMES))]
    label_of = np.array([indicator_label(nm) for nm in names] or [""], dtype=object)
    spell_of = np.array([indicator_kind(nm) == "spell" for nm in names] or [False], dtype=bool)

    def words(t: str | LazyWords, i: np.ndarray) -> np.ndarray | str:
        return t if isinstance(t, str) else t[i]

    def build(person: np.ndarray, ic: np.ndarray, dates: np.ndarray, i: np.ndarray) -> np.ndarray:
        spell = spell_of[ic]
        on = np.where(spell, " from ", " on ").astype(object)
        after = np.where(spell, words(spell_tail, i), words(tail, i)).astype(object)
        return cat(who(ctx, person), ": ", label_of[ic], on, iso(dates), after)

    columns = (ev["person"].to_numpy(dtype="int64"), ev["indicator"].to_numpy(dtype="int64"), ev["event_date"].to_numpy(dtype=NS))
    return lazy(build, *columns, np.arange(len(ev)))


def _terms_of(mc: MeasureContext, fam_h: np.ndarray, since: np.ndarray, absence_type: AbsenceType = "total") -> tuple[PreparedTable, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Terms with data of children (at A) in families ``fam_h``, starting on/after ``since`` (per
    family) and ending by A; sessions absent of ``absence_type``."""
    t, start, end, possible, absent, child_terms = _child_terms(mc, fam_h, absence_type)
    ok = child_terms & (start >= since[t.fam]) & (end <= mc.as_of)
    return t, start, end, possible, absent, np.flatnonzero(ok)


def _child_terms(mc: MeasureContext, fam_h: np.ndarray, absence_type: AbsenceType) -> tuple[PreparedTable, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """school_attendance as :func:`term_table` gives it, and a mask of the terms with data of
    children (at A) in families ``fam_h``."""
    ctx, scope_a = mc.ctx, mc.scope
    t, start, end, possible, absent, has_data = term_table(scope_a, absence_type)
    want = np.zeros(ctx.n_families, dtype=bool)
    want[fam_h] = True
    child = np.zeros(len(t.rows), dtype=bool)
    named = t.person >= 0
    child[named] = scope_a.status.child[t.person[named]]
    return t, start, end, possible, absent, has_data & want[t.fam] & child


def _absence_words(absence_type: AbsenceType) -> str:
    return "unauthorised absence" if absence_type == "unauthorised" else "absence"


def _term_label(t: PreparedTable, sel: np.ndarray) -> np.ndarray:
    return cat(t.text_at("term", sel), " ", t.text_at("academic_year", sel))


def _aggregate_absence_reasons(ctx: RulesContext, reasons: Reasons, h: int, t: PreparedTable, end: np.ndarray,
                               possible: np.ndarray, absent: np.ndarray, used: np.ndarray, threshold: float, what: str) -> None:
    """Each child's absence over the terms ``used`` together (one rate per child) must be below ``threshold``."""
    if len(used) == 0:
        return
    kids, inv = np.unique(t.person[used], return_inverse=True)
    n = len(kids)
    tot_abs = np.bincount(inv, weights=absent[used], minlength=n)
    tot_pos = np.bincount(inv, weights=possible[used], minlength=n)
    rate = tot_abs / tot_pos
    first = np.full(n, len(used), dtype="int64")
    last = np.full(n, -1, dtype="int64")
    order = np.argsort(end[used].astype("int64"), kind="stable")  # positions in ``used`` by term end
    np.minimum.at(first, inv[order], np.arange(len(used)))
    np.maximum.at(last, inv[order], np.arange(len(used)))
    bad = np.flatnonzero(rate >= threshold)
    if len(bad) == 0:
        return
    fam = ctx.person_family[kids[bad]]
    lo_row, hi_row = used[order[first[bad]]], used[order[last[bad]]]

    def words(kid: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: np.ndarray) -> np.ndarray:
        span = np.where(lo == hi, _term_label(t, lo), cat(_term_label(t, lo), " to ", _term_label(t, hi)))
        return cat(who(ctx, kid), f": {what} ", pct(r), " over the ", count.astype(str).astype(object), " terms judged (", span, f") together (must be below {threshold:.0%})")

    counts = np.bincount(inv, minlength=n)
    reasons.add(fam * reasons.n_h + h, NOT_MET, lazy(words, kids[bad], rate[bad], lo_row, hi_row, counts[bad]))


def _exclusion_reasons(ctx: RulesContext, reasons: Reasons, h: int, person: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_open: bool, min_susp: int, span_words: LazyWords) -> None:
    """Exclusions of ``person`` (arrays aligned: one entry per child judged) starting in the span
    [lo, hi] (or (lo, hi] with ``lo_open``): a permanent exclusion, or min_susp+ suspensions, fail."""
    t = ctx.prepared("exclusions")
    if t is None or len(person) == 0:
        return
    n_h = reasons.n_h
    idx = np.full(len(ctx.person_ids), -1, dtype="int64")
    idx[person] = np.arange(len(person))
    j = np.where(t.person >= 0, idx[np.where(t.person >= 0, t.person, 0)], -1)
    judged = j >= 0
    d = t.date("start_date")
    jj = np.where(judged, j, 0)
    inside = judged & ((d > lo[jj]) if lo_open else (d >= lo[jj])) & (d <= hi[jj])
    kind = t.text("exclusion_type")
    perm = np.flatnonzero(inside & (kind == "permanent"))
    if len(perm):
        keys = t.fam[perm] * n_h + h
        reasons.add(keys, NOT_MET, lazy(lambda p, day, jj: cat(who(ctx, p), ": permanent exclusion on ", iso(day), span_words[jj]), t.person[perm], d[perm], j[perm]))
        reasons.add_evidence(raw_evidence(t, perm, "permanent_exclusion", d), h)
    susp = np.flatnonzero(inside & (kind == "suspension"))
    if len(susp):
        n = np.bincount(j[susp], minlength=len(person))
        bad = susp[n[j[susp]] >= min_susp]
        if len(bad):
            first = bad[np.unique(j[bad], return_index=True)[1]]
            reasons.add(t.fam[first] * n_h + h, NOT_MET, lazy(lambda p, count, jj: cat(who(ctx, p), ": ", count.astype(str).astype(object), " suspensions", span_words[jj]), t.person[first], n[j[first]], j[first]))
            reasons.add_evidence(raw_evidence(t, bad, "repeated_suspensions", d), h)


def _closed(mc: MeasureContext, fam_h: np.ndarray) -> np.ndarray:
    c = mc.closed_on[fam_h]
    return ~np.isnat(c) & (c <= mc.as_of)


# --------------------------------------------------------------------------------------------
# the measures
# --------------------------------------------------------------------------------------------


@register_measure
class NoRecurrenceWindow(SuccessMeasure):
    """A >= attached_on + sustain_months and none of the headline's indicators in the window_months to A."""

    name = "no_recurrence_window"
    params_model = NoRecurrenceWindowParams
    reads_indicators = True
    outcome_models = ("ssp",)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, NoRecurrenceWindowParams)
        ctx, keys_h, fam_h, h, att, A = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, mc.as_of
        due = shift_months(att[fam_h], p.sustain_months)
        early = due > A
        reasons.add(keys_h[early], NOT_YET, lazy(lambda a, d: cat(f"the {p.sustain_months} months from attachment on ", iso(a), " end on ", iso(d)), att[fam_h][early], due[early]))
        if missing:
            return
        since = shift_months(mc.scope.as_of, -p.window_months)
        scope = mc.scope.recurrence_since(since)
        wanted = np.zeros(ctx.n_families, dtype=bool)
        wanted[fam_h] = True  # families for which this headline is required
        tail = f" within the {p.window_months} months to {mc.as_of_text}"
        spell_tail = f", which overlaps the {p.window_months} months to {mc.as_of_text}"
        for ind in head.spec.judged_indicators:
            ev = ind.evidence(scope)
            ev = ev[wanted[ev["fam"].to_numpy(dtype="int64")]]
            if len(ev) == 0:
                continue
            reasons.add(ev["fam"].to_numpy(dtype="int64") * reasons.n_h + h, NOT_MET, _recurrence_details(ctx, ev, tail, spell_tail))
            reasons.add_evidence(ev, h)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, NoRecurrenceWindowParams)
        return (
            f"no {labels} in the {params.window_months} months to {{as_of}}, "
            f"at least {params.sustain_months} months after attachment on {{attached_on}}{_NEEDS_MET}"
        )


@register_measure
class EducationTerms(SuccessMeasure):
    """Every child with a term since attachment has ``terms`` such terms ending by A, each of the
    latest ``terms`` below ``absence_threshold`` absence, and (``check_exclusions``) no permanent
    exclusion and fewer than ``min_suspensions`` suspensions in their span."""

    name = "education_terms"
    params_model = EducationTermsParams
    outcome_models = ("ssp",)

    def own_tables(self, params: Params) -> tuple[str, ...]:
        return _education_tables(params)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, EducationTermsParams)
        if "school_attendance" in missing:
            return
        ctx, keys_h, fam_h, h, att, n_h = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, reasons.n_h
        a_str = mc.as_of_text
        t, start, end, possible, absent, sel = _terms_of(mc, fam_h, att, p.absence_type)
        none = keys_h[~np.isin(fam_h, np.unique(t.fam[sel]))]
        reasons.add(none, NOT_YET, lazy(lambda a: cat("no child has a school term starting on or after attachment on ", iso(a), " and ending by ", a_str), att[none // n_h]))
        if len(sel) == 0:
            return
        children, inv, n_terms = np.unique(t.person[sel], return_inverse=True, return_counts=True)
        child_fam = ctx.person_family[children]
        short = n_terms < p.terms
        reasons.add(child_fam[short] * n_h + h, NOT_YET, lazy(lambda p_, count: cat(who(ctx, p_), ": ", count.astype(str).astype(object), f" of {p.terms} terms since attachment have ended by {a_str}"), children[short], n_terms[short]))
        reasons.add_evidence(raw_evidence(t, sel, "school_term", end), h)
        full = sel[~short[inv]]
        used = latest_school_terms(t, full, p.terms)
        what = _absence_words(p.absence_type)
        if p.aggregate:
            _aggregate_absence_reasons(ctx, reasons, h, t, end, possible, absent, used, p.absence_threshold, what)
        else:
            rate = absent[used] / possible[used]
            bad = used[rate >= p.absence_threshold]
            reasons.add(t.fam[bad] * n_h + h, NOT_MET, lazy(lambda rows: cat(who(ctx, t.person[rows]), f": {what} ", pct(absent[rows] / possible[rows]), " in ", _term_label(t, rows), f" (must be below {p.absence_threshold:.0%})"), bad))
        if p.check_exclusions and len(used) and "exclusions" not in missing:
            kids, kinv = np.unique(t.person[used], return_inverse=True)
            lo = np.full(len(kids), np.iinfo("int64").max).astype("int64")
            hi = np.full(len(kids), np.iinfo("int64").min).astype("int64")
            np.minimum.at(lo, kinv, start[used].astype("int64"))
            np.maximum.at(hi, kinv, end[used].astype("int64"))
            lo_d, hi_d = lo.astype(NS), hi.astype(NS)
            words = LazyWords(lambda i: cat(f" within the {p.terms} terms judged (", iso(lo_d[i]), " to ", iso(hi_d[i]), ")"), len(kids))
            _exclusion_reasons(ctx, reasons, h, kids, lo_d, hi_d, False, p.min_suspensions, words)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, EducationTermsParams)
        exclusions = " with no permanent exclusion or repeated suspensions" if params.check_exclusions else ""
        what = _absence_words(params.absence_type)
        if params.aggregate:
            return f"each child's {what} over their latest {params.terms} terms since attachment together below {params.absence_threshold:.0%}{exclusions}{_NEEDS_MET}"
        return f"each child's latest {params.terms} terms since attachment below {params.absence_threshold:.0%} {what}{exclusions}{_NEEDS_MET}"


@register_measure
class NeedsOnly(SuccessMeasure):
    """Met only through needs rows: at least one counts at A (and, as for every measure, all are met by A)."""

    name = "needs_only"
    params_model = NoParams
    outcome_models = ("ssp", "sfo")

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        if mc.needs_keys is None:
            return  # needs not supplied: track reports every required headline not evaluated
        without = head.keys[~np.isin(head.keys, mc.needs_keys)]
        reasons.add(without, NOT_YET, f"no needs row of {head.spec.code} records an outcome by {mc.as_of_text}")

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        return f"every needs row of {headline} met by {{as_of}}"


@register_measure
class NoRecurrenceSinceClosure(SuccessMeasure):
    """None of the headline's indicators recur in (closed_on, A]."""

    name = "no_recurrence_since_closure"
    params_model = NoParams
    reads_indicators = True
    outcome_models = ("sfo",)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        if missing:
            return
        ctx, keys_h, fam_h, h, closed_on, n_h = mc.ctx, head.keys, head.fams, head.h, mc.closed_on, reasons.n_h
        as_of = np.full(ctx.n_families, NAT)
        as_of[fam_h[_closed(mc, fam_h)]] = mc.as_of
        scope = Scope(ctx, as_of, since=closed_on, recurrence=True)
        for ind in head.spec.judged_indicators:
            ev = ind.evidence(scope)
            k = ev["fam"].to_numpy(dtype="int64") * n_h + h
            ev = ev[np.isin(k, keys_h)]
            if len(ev) == 0:
                continue
            f = ev["fam"].to_numpy(dtype="int64")
            tail = LazyWords(lambda i, f=f: cat(" after closure on ", iso(closed_on[f[i]])), len(f))
            spell_tail = LazyWords(lambda i, f=f: cat(", still open after closure on ", iso(closed_on[f[i]])), len(f))
            reasons.add(f * n_h + h, NOT_MET, _recurrence_details(ctx, ev, tail, spell_tail))
            reasons.add_evidence(ev, h)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        return f"no recurrence of {labels} between closure on {{closed_on}} and {{as_of}}{_NEEDS_MET}"


@register_measure
class EducationSinceClosure(SuccessMeasure):
    """Every term starting on or after closed_on and ending by A (at least one) below
    ``absence_threshold`` absence; (``check_exclusions``) no permanent exclusion and fewer than
    ``min_suspensions`` suspensions in (closed_on, A]."""

    name = "education_since_closure"
    params_model = EducationSinceClosureParams
    outcome_models = ("sfo",)

    def own_tables(self, params: Params) -> tuple[str, ...]:
        return _education_tables(params)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, EducationSinceClosureParams)
        if "school_attendance" in missing:
            return
        ctx, closed_on, h, n_h = mc.ctx, mc.closed_on, head.h, reasons.n_h
        closed = _closed(mc, head.fams)
        keys_c, fam_c = head.keys[closed], head.fams[closed]
        if len(fam_c) == 0:
            return
        t, start, end, possible, absent, sel = _terms_of(mc, fam_c, closed_on, p.absence_type)
        none = keys_c[~np.isin(fam_c, np.unique(t.fam[sel]))]
        reasons.add(none, NOT_YET, lazy(lambda c: cat("no school term starting on or after closure on ", iso(c), " has ended by ", mc.as_of_text), closed_on[none // n_h]))
        reasons.add_evidence(raw_evidence(t, sel, "school_term", end), h)
        bad = sel[absent[sel] / possible[sel] >= p.absence_threshold]
        what = _absence_words(p.absence_type)
        reasons.add(t.fam[bad] * n_h + h, NOT_MET, lazy(lambda rows: cat(who(ctx, t.person[rows]), f": {what} ", pct(absent[rows] / possible[rows]), " in ", _term_label(t, rows), f" after closure (must be below {p.absence_threshold:.0%})"), bad))
        if p.check_exclusions and "exclusions" not in missing:
            # every child (at A) of a closed family: exclusions starting in (closed_on, A]
            kids = np.flatnonzero(mc.scope.status.child & np.isin(ctx.person_family, fam_c))
            lo = closed_on[ctx.person_family[kids]]
            hi = np.full(len(kids), mc.as_of)
            words = LazyWords(lambda i: cat(" after closure on ", iso(lo[i])), len(kids))
            _exclusion_reasons(ctx, reasons, h, kids, lo, hi, True, p.min_suspensions, words)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, EducationSinceClosureParams)
        what = _absence_words(params.absence_type)
        return f"no recurrence of {what} or exclusion between closure on {{closed_on}} and {{as_of}}{_NEEDS_MET}"


# --------------------------------------------------------------------------------------------
# the measures of councils' local plans
# --------------------------------------------------------------------------------------------


def _number_text(x: float) -> str:
    """33 -> "33", 33.3 -> "33.3"."""
    return f"{x:g}"


def _pct_words(values: np.ndarray) -> np.ndarray:
    """Percentages (0-100+) as "50%", "33.3%" (one decimal, a whole number without it)."""
    text = np.char.mod("%.1f", np.round(np.asarray(values, dtype="float64"), 1)).astype(object)
    whole = np.char.endswith(text.astype(str), ".0")
    text[whole] = np.array([v[:-2] for v in text[whole]], dtype=object) if whole.any() else text[whole]
    return cat(text, "%")


def _memo_key(measure: SuccessMeasure, spec: HeadlineSpec) -> tuple[object, ...]:
    """Where a measure's evaluate leaves, on the :class:`MeasureContext`, what its met_detail reads
    (by value: an alternative of ``any_of`` is rebuilt between the two)."""
    return (measure.name, spec.code, spec.measure_params, spec.success_indicators)


def _sustain_not_yet(reasons: Reasons, keys: np.ndarray, att: np.ndarray, months: int, A: np.datetime64) -> np.ndarray:
    """``not_yet`` for the keys whose families' ``months`` from attachment ``att`` (aligned) end after
    A; returns the mask of those keys."""
    due = shift_months(att, months)
    early = due > A
    reasons.add(keys[early], NOT_YET, lazy(lambda a, d: cat(f"the {months} months from attachment on ", iso(a), " end on ", iso(d)), att[early], due[early]))
    return early


def _count_events(mc: MeasureContext, specs: tuple[IndicatorSpec, ...], scope: Scope, wanted: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Evidence rows of ``specs`` in ``scope`` for the families ``wanted`` (one source row counted
    once, even when two entries hold it), and their number per family code."""
    parts = []
    for ind in specs:
        ev = ind.evidence(scope)
        parts.append(ev[wanted[ev["fam"].to_numpy(dtype="int64")]])
    ev = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(ev):
        ev = ev.drop_duplicates(["table", "k"], ignore_index=True)
        counts = np.bincount(ev["fam"].to_numpy(dtype="int64"), minlength=mc.ctx.n_families)
    else:
        counts = np.zeros(mc.ctx.n_families, dtype="int64")
    return counts, ev


@register_measure
class ComparativeReduction(SuccessMeasure):
    """Fewer events after than before: per family, the judged indicators' evidence rows (one row =
    one event) in the ``window_months`` to A, against those in the ``baseline_months`` to
    attachment; met when ``window <= baseline x (1 - reduction_pct / 100)``, judged once A is
    ``sustain_months`` after attachment (``not_yet`` before). With no baseline event,
    ``zero_baseline: require_none`` needs none in the window too; ``met`` is met.

    Only event indicators can be counted (a spell or a term is not an event): a spell or terms
    indicator is refused when the framework or plan is loaded. The people counted are those the
    entries' person filters choose at A, in both periods (the same people before and after)."""

    name = "comparative_reduction"
    params_model = ComparativeReductionParams
    reads_indicators = True
    outcome_models = ("ssp",)

    def cannot_judge(self, spec: IndicatorSpec) -> str | None:
        if spec.indicator.kind != "event":
            return f"{self.name} counts events; {spec.code} is a {spec.indicator.kind} indicator ({spec.label})"
        return None

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, ComparativeReductionParams)
        ctx, keys_h, fam_h, h, att, A = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, mc.as_of
        early = _sustain_not_yet(reasons, keys_h, att[fam_h], p.sustain_months, A)
        if missing:
            return
        keys_j, fam_j = keys_h[~early], fam_h[~early]  # judged once the sustain period is over
        if len(fam_j) == 0:
            return
        wanted = np.zeros(ctx.n_families, dtype=bool)
        wanted[fam_j] = True
        specs = head.spec.judged_indicators
        window = mc.scope.recurrence_since(shift_months(mc.scope.as_of, -p.window_months))
        after, ev_after = _count_events(mc, specs, window, wanted)
        base_end = np.where(wanted, att, NAT)
        # the same people in both periods: membership and person filters at A
        baseline = mc.scope.recurrence_between(shift_months(base_end, -p.baseline_months), base_end)
        before, ev_before = _count_events(mc, specs, baseline, wanted)
        a, b = after[fam_j], before[fam_j]
        met = a * 100 <= b * (100 - p.reduction_pct) + 1e-9
        if p.zero_baseline == "met":
            met |= b == 0
        mc.memo[_memo_key(self, head.spec)] = (fam_j, a, b)
        bad = ~met
        reasons.add(keys_j[bad], NOT_MET, lazy(lambda f, a_, b_: self._sentences(mc, head.spec, f, a_, b_), fam_j[bad], a[bad], b[bad]))
        for ev in (ev_before, ev_after):
            if len(ev):
                reasons.add_evidence(ev, h)

    def _sentences(self, mc: MeasureContext, spec: HeadlineSpec, fams: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """'<labels>: 3 in the 6 months to A against 6 in the 6 months before attachment on D: down 50% (needs 33%)'."""
        p = spec.measure_params
        assert isinstance(p, ComparativeReductionParams)
        labels = indicator_labels(spec)
        n = len(fams)
        change = np.full(n, "", dtype=object)
        some = b > 0
        if some.any():
            r = (b[some] - a[some]) / b[some] * 100
            words = np.where(r > 0, "down ", np.where(r < 0, "up ", "")).astype(object)
            amount = np.where(r == 0, "no change", cat(words, _pct_words(np.abs(r)))).astype(object)
            change[some] = cat(": ", amount, f" (needs {_number_text(p.reduction_pct)}%)")
        zero = ~some
        if zero.any():
            if p.zero_baseline == "met":
                change[zero] = ": none before attachment, so nothing to reduce (met with no baseline)"
            else:
                change[zero] = np.where(a[zero] == 0, ": none before attachment and none since", ": none before attachment, so none may follow").astype(object)
        return cat(
            labels, ": ", a.astype(str).astype(object), f" in the {p.window_months} months to {mc.as_of_text} against ",
            b.astype(str).astype(object), f" in the {p.baseline_months} months before attachment on ", iso(mc.attached_on[fams]), change,
        )

    def met_detail(self, mc: MeasureContext, spec: HeadlineSpec, fams: np.ndarray) -> np.ndarray:
        counts = mc.memo.get(_memo_key(self, spec))
        if counts is None:
            return super().met_detail(mc, spec, fams)
        fam_j, a, b = counts  # type: ignore[misc]
        pos = np.searchsorted(fam_j, fams)
        return cat(self._sentences(mc, spec, fams, a[pos], b[pos]), _NEEDS_MET)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, ComparativeReductionParams)
        zero = "with none before attachment, none may follow" if params.zero_baseline == "require_none" else "met with none before attachment"
        return (
            f"{labels} in the {params.window_months} months to {{as_of}} at least {_number_text(params.reduction_pct)}% fewer than in the "
            f"{params.baseline_months} months before attachment on {{attached_on}} ({zero}), judged at least {params.sustain_months} months "
            f"after attachment{_NEEDS_MET}"
        )


def _filter_words(p: IndicatorParams) -> str:
    """A person filter in words: "aged 16 to 18, relationship child" ('' when none)."""
    words = p.person_words()
    return words.removeprefix(" (only people ").removesuffix(" at the test date)")


@register_measure
class ContinuousStatus(SuccessMeasure):
    """In a status continuously: every member the person filter chooses at A (all members without
    one) is covered by ``local_spells`` rows of ``codes`` on every day of the ``months`` to A
    (spells may chain or overlap, a day uncovered fails, a blank end is open), judged once A is
    ``sustain_months`` (blank: ``months``) after attachment (``not_yet`` before). A family with no
    member the filter chooses is ``not_met`` (nobody shows the outcome), unless ``nobody: met``
    (nobody to judge: a part of ``all_of`` that applies only to the young people a family has)."""

    name = "continuous_status"
    params_model = ContinuousStatusParams
    outcome_models = ("ssp",)

    def own_tables(self, params: Params) -> tuple[str, ...]:
        return ("local_spells",)

    def local_codes(self, params: Params) -> tuple[tuple[str, str, str], ...]:
        assert isinstance(params, ContinuousStatusParams)
        return tuple((f"codes[{i}]", "local_spells", c) for i, c in enumerate(params.codes))

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, ContinuousStatusParams)
        ctx, keys_h, fam_h, h, att, A, n_h = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, mc.as_of, reasons.n_h
        early = _sustain_not_yet(reasons, keys_h, att[fam_h], p.sustain, A)
        if missing:
            return
        keys_j, fam_j = keys_h[~early], fam_h[~early]
        if len(fam_j) == 0:
            return
        wanted = np.zeros(ctx.n_families, dtype=bool)
        wanted[fam_j] = True
        status = mc.scope.status
        people = np.flatnonzero(wanted[ctx.person_family] & status.member)
        people = people[people_matching(mc.scope, people, p)] if p.filters_people else people
        nobody = keys_j[~np.isin(fam_j, ctx.person_family[people])]
        filt = _filter_words(p)
        if p.nobody == "not_met":
            reasons.add(nobody, NOT_MET, f"no member of the family{f' ({filt})' if filt else ''} at {mc.as_of_text} to judge: nobody is in {'/'.join(p.codes)}")
        if len(people) == 0:
            return
        day = np.int64(86_400_000_000_000)
        a_d = int(A.astype("int64") // day)
        lo_d = int(shift_months(np.array([A]), -p.months)[0].astype("int64") // day) + 1  # first day that must be covered
        t = ctx.prepared("local_spells")
        assert t is not None
        idx = np.full(len(ctx.person_ids), -1, dtype="int64")
        idx[people] = np.arange(len(people))
        j = np.where(t.person >= 0, idx[np.where(t.person >= 0, t.person, 0)], -1)
        upper = t.memo("_code_upper", lambda: pd.Series(t.text("code"), dtype=object).str.upper().to_numpy(dtype=object))
        s, e = t.date("start_date"), t.date("end_date")
        s_d = np.where(np.isnat(s), a_d + 1, s.astype("int64") // day)
        e_d = np.where(np.isnat(e), a_d, e.astype("int64") // day)
        ok = (j >= 0) & np.isin(upper, [c.upper() for c in p.codes]) & ~np.isnat(s) & (s_d <= a_d) & (e_d >= lo_d)
        sel = np.flatnonzero(ok)
        # first uncovered day of each person (a_d + 1 = covered throughout), spells chained by start
        gap = np.full(len(people), lo_d, dtype="int64")
        if len(sel):
            js = j[sel]
            start = np.maximum(s_d[sel], lo_d) - lo_d
            stop = np.minimum(e_d[sel], a_d) - lo_d
            order = np.lexsort((start, js))
            js, start, stop = js[order], start[order], stop[order]
            span = a_d - lo_d + 2
            reach = np.maximum.accumulate(js * span + stop) - js * span  # per person: the last day covered so far
            first = np.r_[True, js[1:] != js[:-1]]
            before = np.where(first, -1, np.r_[-1, reach[:-1]])  # covered up to, before this spell
            holes = start > before + 1
            uncovered = np.full(len(people), np.iinfo("int64").max, dtype="int64")
            np.minimum.at(uncovered, js[holes], before[holes] + 1)
            last = np.r_[js[1:] != js[:-1], True]
            ends = np.full(len(people), -1, dtype="int64")
            ends[js[last]] = reach[last]
            has = np.zeros(len(people), dtype=bool)
            has[js] = True
            uncovered = np.where(has, np.minimum(uncovered, ends + 1), 0)
            gap = uncovered + lo_d
            reasons.add_evidence(raw_evidence(t, sel, "local_spell", s), h)
        bad = np.flatnonzero(gap <= a_d)
        if len(bad):
            codes = " or ".join(p.codes)
            gap_day = (gap[bad] * day).astype(NS)
            reasons.add(ctx.person_family[people[bad]] * n_h + h, NOT_MET, lazy(
                lambda person, d: cat(who(ctx, person), f": no {codes} spell on ", iso(d), f" (every day of the {p.months} months to {mc.as_of_text} must be covered)"),
                people[bad], gap_day))

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, ContinuousStatusParams)
        filt = _filter_words(params)
        return (
            f"every member{f' ({filt})' if filt else ''} in {' or '.join(params.codes)} on every day of the {params.months} months to "
            f"{{as_of}}, at least {params.sustain} months after attachment on {{attached_on}}{_NEEDS_MET}"
        )


@register_measure
class AttendanceImprovement(SuccessMeasure):
    """Attendance improves: each child considered (as ``education_terms``: children at A with a term
    since attachment, ``terms`` of them needed, ``not_yet`` before) has attendance (1 - absence rate)
    over their latest ``terms`` terms since attachment above their baseline: the latest
    ``baseline_terms`` terms (as many as there are, at least one) ending on or before attachment, by
    at least ``improve_by_pct`` % of it. ``per_term``: each of those terms above the baseline.
    ``only_below``: only children whose baseline is below it must improve; the others must not
    fall below their baseline. A child with no baseline term is ``not_evaluated`` (no improvement
    can be measured, and waiting will not make one)."""

    name = "attendance_improvement"
    params_model = AttendanceImprovementParams
    outcome_models = ("ssp",)

    def own_tables(self, params: Params) -> tuple[str, ...]:
        return ("school_attendance",)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, AttendanceImprovementParams)
        if missing:
            return
        ctx, keys_h, fam_h, h, att, n_h = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, reasons.n_h
        a_str = mc.as_of_text
        t, start, end, possible, absent, kids_terms = _child_terms(mc, fam_h, p.absence_type)
        since = kids_terms & (start >= att[t.fam]) & (end <= mc.as_of)
        sel = np.flatnonzero(since)
        none = keys_h[~np.isin(fam_h, np.unique(t.fam[sel]))]
        reasons.add(none, NOT_YET, lazy(lambda a: cat("no child has a school term starting on or after attachment on ", iso(a), " and ending by ", a_str), att[none // n_h]))
        if len(sel) == 0:
            return
        children, inv, n_terms = np.unique(t.person[sel], return_inverse=True, return_counts=True)
        n = len(children)
        child_fam = ctx.person_family[children]
        pos = np.full(len(ctx.person_ids), -1, dtype="int64")
        pos[children] = np.arange(n)
        # the baseline: the latest baseline_terms terms ending on or before attachment
        pj = np.where(t.person >= 0, pos[np.where(t.person >= 0, t.person, 0)], -1)
        base_rows = latest_school_terms(t, np.flatnonzero(kids_terms & (pj >= 0) & (end <= att[t.fam])), p.baseline_terms)
        bj = pj[base_rows]
        b_pos = np.bincount(bj, weights=possible[base_rows], minlength=n)
        b_abs = np.bincount(bj, weights=absent[base_rows], minlength=n)
        b_count = np.bincount(bj, minlength=n)
        has_base = b_count > 0
        base = 1 - b_abs / np.where(has_base, b_pos, 1)
        no_base = ~has_base
        reasons.add(child_fam[no_base] * n_h + h, NOT_EVALUATED, lazy(
            lambda kid, a: cat(who(ctx, kid), ": no school term with data ending on or before attachment on ", iso(a), ", so no improvement can be measured"),
            children[no_base], att[child_fam[no_base]]))
        short = n_terms < p.terms
        reasons.add(child_fam[short] * n_h + h, NOT_YET, lazy(lambda kid, count: cat(who(ctx, kid), ": ", count.astype(str).astype(object), f" of {p.terms} terms since attachment have ended by {a_str}"), children[short], n_terms[short]))
        used = latest_school_terms(t, sel[~short[inv]], p.terms)
        reasons.add_evidence(raw_evidence(t, np.concatenate([base_rows, used]), "school_term", end), h)
        uj = pj[used]
        judged = has_base[uj]
        used, uj = used[judged], uj[judged]
        if len(used) == 0:
            return
        must_improve = np.ones(n, dtype=bool) if p.only_below is None else base < p.only_below
        target = np.where(must_improve, base * (1 + p.improve_by_pct / 100), base)
        word = "attendance" + (" (unauthorised absence only)" if p.absence_type == "unauthorised" else "")

        def need(j: np.ndarray) -> np.ndarray:
            """What child ``j`` needed, in words."""
            improve = must_improve[j]
            out = np.empty(len(j), dtype=object)
            if p.improve_by_pct > 0:
                out[improve] = cat("needs at least ", pct(target[j][improve]), f": {_number_text(p.improve_by_pct)}% better")
            else:
                out[improve] = cat("needs above ", pct(base[j][improve]))
            if (~improve).any():
                assert p.only_below is not None
                out[~improve] = f"{p.only_below:.0%} or more before attachment: must not fall"
            return out

        def baseline_words(j: np.ndarray) -> np.ndarray:
            terms = np.where(b_count[j] == 1, " term", " terms").astype(object)
            return cat(" against ", pct(base[j]), " over the ", b_count[j].astype(str).astype(object), terms, " before attachment (", need(j), ")")

        def passes(rate: np.ndarray, j: np.ndarray) -> np.ndarray:
            tol = 1e-12
            return np.where(must_improve[j], (rate > base[j] + tol) & (rate >= target[j] - tol), rate >= base[j] - tol)

        if p.per_term:
            rate = 1 - absent[used] / possible[used]
            bad = ~passes(rate, uj)
            rows, jb = used[bad], uj[bad]
            reasons.add(t.fam[rows] * n_h + h, NOT_MET, lazy(
                lambda r, j, rt: cat(who(ctx, t.person[r]), f": {word} ", pct(rt), " in ", _term_label(t, r), baseline_words(j)),
                rows, jb, rate[bad]))
        else:
            a_pos = np.bincount(uj, weights=possible[used], minlength=n)
            a_abs = np.bincount(uj, weights=absent[used], minlength=n)
            a_count = np.bincount(uj, minlength=n)
            ks = np.flatnonzero(a_count > 0)
            rate = 1 - a_abs[ks] / a_pos[ks]
            bad = ~passes(rate, ks)
            jb = ks[bad]
            reasons.add(child_fam[jb] * n_h + h, NOT_MET, lazy(
                lambda j, rt: cat(who(ctx, children[j]), f": {word} ", pct(rt), f" over the latest {p.terms} terms since attachment", baseline_words(j)),
                jb, rate[bad]))

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        assert isinstance(params, AttendanceImprovementParams)
        word = "attendance" + (" (unauthorised absence only)" if params.absence_type == "unauthorised" else "")
        by = f" by at least {_number_text(params.improve_by_pct)}%" if params.improve_by_pct > 0 else ""
        over = f"in each of their latest {params.terms} terms since attachment" if params.per_term else f"over their latest {params.terms} terms since attachment"
        who_ = f"each child whose {word} before attachment was below {params.only_below:.0%}" if params.only_below is not None else "each child"
        others = "; the others' no lower than before" if params.only_below is not None else ""
        return (
            f"{who_}: {word} {over} above their {word} over their latest {params.baseline_terms} terms before attachment{by}"
            f"{others}{_NEEDS_MET}"
        )


@register_measure
class AnyOf(SuccessMeasure):
    """Met when any of ``alternatives`` is met (each a measure with its own parameters, and
    indicators). Otherwise the most hopeful status of the alternatives: ``not_yet`` over ``not_met``
    over ``not_evaluated`` (another alternative may still be met in time), with every
    alternative's sentence: "either ...; or ...". An alternative missing a table is only that
    alternative ``not_evaluated``. Needs rows are judged by track on top, as for every measure."""

    name = "any_of"
    params_model = AnyOfParams
    outcome_models = ("ssp", "sfo")
    composite = True
    key: ClassVar[str] = "alternatives"  # the success section's list of measures

    def items(self, params: Params) -> tuple[Alternative, ...]:
        """The measures this one combines, each with its parameters and indicators."""
        return tuple(getattr(params, self.key))

    def judged_entries(self, spec: HeadlineSpec) -> tuple[IndicatorSpec, ...]:
        entries = {i.code: i for alt in self.alternative_specs(spec) for i in MEASURE_REGISTRY[alt.measure].judged_entries(alt)}
        return tuple(entries.values())

    def local_codes(self, params: Params) -> tuple[tuple[str, str, str], ...]:
        return tuple((f"{self.key}[{i}].{key}", table, code) for i, a in enumerate(self.items(params)) for key, table, code in MEASURE_REGISTRY[a.measure].local_codes(a.params))

    def plan_defaults(self) -> dict[str, Any]:
        return {self.key: []}  # a plan gives the whole list (its entries are not merged)

    def parse_params(self, raw: dict[str, Any], sub: Callable[[Any, str], Alternative]) -> Params:
        items = raw.get(self.key)
        extra = sorted(set(raw) - {self.key})
        if extra:
            return self.params_model.model_validate(raw)  # names the unknown key
        if not isinstance(items, list):
            return self.params_model.model_validate({self.key: items})  # not a list
        return self.params_model.model_validate({self.key: tuple(sub(alt, f"{self.key}[{i}]") for i, alt in enumerate(items))})

    def tables(self, params: Params, indicator_tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        out: list[str] = ["needs"]
        for alt in self.items(params):
            tabs = indicator_tables if alt.indicators is None else tuple(dict.fromkeys(t for i in alt.indicators for t in i.tables))
            out += MEASURE_REGISTRY[alt.measure].tables(alt.params, tabs)
        return tuple(dict.fromkeys(out))

    def alternative_specs(self, spec: HeadlineSpec) -> list[HeadlineSpec]:
        """The headline as each alternative judges it (its measure, parameters and indicators)."""
        return [dataclasses.replace(spec, measure=a.measure, measure_params=a.params, success_indicators=a.indicators) for a in self.items(spec.measure_params)]

    def evaluate(self, mc: MeasureContext, head: HeadlineFrame) -> Reasons:
        reasons = Reasons(mc.n_headlines)
        statuses, details = [], []
        for alt in self.alternative_specs(head.spec):
            r = MEASURE_REGISTRY[alt.measure].evaluate(mc, dataclasses.replace(head, spec=alt))
            s, d = r.decide(head.keys)
            statuses.append(s)
            details.append(d)
            reasons.evidence += r.evidence
        st = np.vstack(statuses)
        best = st.max(axis=0)  # met > not_yet > not_met > not_evaluated
        met = best == MET
        winner = np.argmax(st == MET, axis=0)
        mc.memo[_memo_key(self, head.spec)] = (head.keys, winner)
        failing = np.flatnonzero(~met)
        if len(failing):
            parts: list[object] = ["either "]
            for i, d in enumerate(details):
                parts += ["; or ", d[failing]] if i else [d[failing]]
            words = cat(*parts)
            for status in np.unique(best[failing]):
                at = best[failing] == status
                reasons.add(head.keys[failing][at], int(status), words[at])
        return reasons

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        """A composite is judged by its parts (:meth:`evaluate`); its own missing tables are theirs."""
        reasons.extend(self.evaluate(mc, head))

    def met_detail(self, mc: MeasureContext, spec: HeadlineSpec, fams: np.ndarray) -> np.ndarray:
        alts = self.alternative_specs(spec)
        memo = mc.memo.get(_memo_key(self, spec))
        out = np.full(len(fams), "", dtype=object)
        if memo is None:
            winner = np.zeros(len(fams), dtype="int64")
        else:
            keys, win = memo  # type: ignore[misc]
            pos = np.searchsorted(keys // mc.n_headlines, fams)
            winner = win[pos]
        for i, alt in enumerate(alts):
            at = winner == i
            if at.any():
                out[at] = MEASURE_REGISTRY[alt.measure].met_detail(mc, alt, fams[at])
        return out

    def part_sentences(self, params: Params, labels: str, headline: str) -> list[str]:
        parts = []
        for alt in self.items(params):
            words = labels if alt.indicators is None else (" or ".join(i.label for i in alt.indicators) or "problem")
            parts.append(MEASURE_REGISTRY[alt.measure].describe(alt.params, labels=words, headline=headline).removesuffix(_NEEDS_MET))
        return parts

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        return "either " + "; or ".join(self.part_sentences(params, labels, headline)) + _NEEDS_MET


@register_measure
class AllOf(AnyOf):
    """Met when every one of ``parts`` is met (each a measure with its own parameters and
    indicators: Devon's crime outcome is young people's offending down 33%, adults' down 60%, no ASB
    or escalation and no breach, together). Otherwise the first of ``not_evaluated``, ``not_met``,
    ``not_yet`` among the parts, with the sentence of each part not met ("...; and ...")."""

    name = "all_of"
    params_model = AllOfParams
    key = "parts"

    def evaluate(self, mc: MeasureContext, head: HeadlineFrame) -> Reasons:
        reasons = Reasons(mc.n_headlines)
        for part in self.alternative_specs(head.spec):
            r = MEASURE_REGISTRY[part.measure].evaluate(mc, dataclasses.replace(head, spec=part))
            reasons.extend(r)  # a part's reasons are the headline's: the first of the statuses wins
        return reasons

    def met_detail(self, mc: MeasureContext, spec: HeadlineSpec, fams: np.ndarray) -> np.ndarray:
        parts = [MEASURE_REGISTRY[p.measure].met_detail(mc, p, fams) for p in self.alternative_specs(spec)]
        pieces: list[object] = []
        for i, d in enumerate(parts):
            d = pd.Series(np.broadcast_to(np.asarray(d, dtype=object), len(fams)), dtype=object).str.removesuffix(_NEEDS_MET).to_numpy(dtype=object)
            pieces += ["; and ", d] if i else [d]
        return cat(*pieces, _NEEDS_MET) if pieces else np.full(len(fams), "", dtype=object)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        return "all of: " + "; and ".join(self.part_sentences(params, labels, headline)) + _NEEDS_MET
