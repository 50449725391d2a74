"""The registered success measures: how a required headline is judged at an as-of date A.

A framework names one measure per headline (``success.measure``) with typed parameters. Each
measure is one :class:`SuccessMeasure` subclass, registered in :data:`MEASURE_REGISTRY` by its
``name``, with

- ``params_model``: the pydantic model of its parameters (what a framework or plan may set);
- :meth:`SuccessMeasure.tables`: the tables it reads (not supplied -> ``not_evaluated``);
- :meth:`SuccessMeasure.evaluate`: one vectorised pass over the families x headline frame
  (:class:`HeadlineFrame`) in a :class:`MeasureContext`, giving :class:`~tfclaims.rules.kernel.Reasons`:
  the reason rows (status and sentence) that make each family's status ``not_evaluated``,
  ``not_met`` or ``not_yet`` (``met`` when none), and the evidence rows;
- :meth:`SuccessMeasure.describe`: the plain-English sentence of a met headline, with
  ``{as_of}``, ``{attached_on}`` and ``{closed_on}`` filled per family by :meth:`SuccessMeasure.met_detail`.

Needs rows count for every measure and are judged once by track, not here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from tfclaims.rules.indicators import (
    INDICATOR_NAMES,
    NAT,
    NS,
    Params,
    PreparedTable,
    RulesContext,
    Scope,
    indicator_kind,
    indicator_label,
    iso,
    latest_terms,
    raw_evidence,
    shift_months,
    term_table,
)
from tfclaims.rules.kernel import NOT_EVALUATED, NOT_MET, NOT_YET, Detail, LazyWords, Reasons, cat, fill, lazy, pct, who

if TYPE_CHECKING:  # frameworks imports this registry
    from tfclaims.rules.frameworks import HeadlineSpec

__all__ = [
    "MEASURE_REGISTRY",
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


class EducationSinceClosureParams(Params):
    absence_threshold: float = Field(0.10, gt=0, le=1)
    min_suspensions: int = Field(3, ge=1, le=50)
    check_exclusions: bool = True


class NoParams(Params):
    pass


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
    reads_indicators: ClassVar[bool] = False  # judges recurrence of the headline's own indicators (needs one)
    outcome_models: ClassVar[tuple[str, ...]] = ("ssp",)  # the frameworks' outcome models it can judge under

    def own_tables(self, params: Params) -> tuple[str, ...]:
        """Tables read beyond needs and (when ``reads_indicators``) the headline's indicators."""
        return ()

    def tables(self, params: Params, indicator_tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Every table the measure reads: needs always, its own, the headline's indicators' where used."""
        own = self.own_tables(params) + (indicator_tables if self.reads_indicators else ())
        return tuple(dict.fromkeys(("needs", *own)))

    def evaluate(self, mc: MeasureContext, head: HeadlineFrame) -> Reasons:
        """The reasons (and evidence) deciding each family's status for ``head``; a family with
        none is ``met``. A table of the measure not supplied makes every family ``not_evaluated``."""
        reasons = Reasons(mc.n_headlines)
        missing = tuple(t for t in head.spec.measure_tables() if not mc.ctx.supplied(t) and t != "needs")
        if missing:
            reasons.add(head.keys, NOT_EVALUATED, f"not evaluated: {', '.join(missing)} not supplied")
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
    """The headline's indicators as words: "proven offence or ASB incident" ("problem" if none)."""
    return " or ".join(i.label for i in spec.indicators) or "problem"


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


def _terms_of(mc: MeasureContext, fam_h: np.ndarray, since: np.ndarray) -> tuple[PreparedTable, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Terms with data of children (at A) in families ``fam_h``, starting on/after ``since`` (per
    family) and ending by A."""
    ctx, scope_a = mc.ctx, mc.scope
    t, start, end, possible, absent, has_data = term_table(scope_a)
    want = np.zeros(ctx.n_families, dtype=bool)
    want[fam_h] = True
    child = np.zeros(len(t.rows), dtype=bool)
    named = t.person >= 0
    child[named] = scope_a.status.child[t.person[named]]
    ok = has_data & want[t.fam] & child & (start >= since[t.fam]) & (end <= mc.as_of)
    return t, start, end, possible, absent, np.flatnonzero(ok)


def _term_label(t: PreparedTable, sel: np.ndarray) -> np.ndarray:
    return cat(t.text_at("term", sel), " ", t.text_at("academic_year", sel))


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
        for ind in head.spec.indicators:
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

    def own_tables(self, params: Params) -> tuple[str, ...]:
        return _education_tables(params)

    def judge(self, mc: MeasureContext, head: HeadlineFrame, missing: tuple[str, ...], reasons: Reasons) -> None:
        p = head.spec.measure_params
        assert isinstance(p, EducationTermsParams)
        if "school_attendance" in missing:
            return
        ctx, keys_h, fam_h, h, att, n_h = mc.ctx, head.keys, head.fams, head.h, mc.attached_on, reasons.n_h
        a_str = mc.as_of_text
        t, start, end, possible, absent, sel = _terms_of(mc, fam_h, att)
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
        used = latest_terms(t.person, end, full, p.terms)
        rate = absent[used] / possible[used]
        bad = used[rate >= p.absence_threshold]
        reasons.add(t.fam[bad] * n_h + h, NOT_MET, lazy(lambda rows: cat(who(ctx, t.person[rows]), ": absence ", pct(absent[rows] / possible[rows]), " in ", _term_label(t, rows), f" (must be below {p.absence_threshold:.0%})"), bad))
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
        return f"each child's latest {params.terms} terms since attachment below {params.absence_threshold:.0%} absence{exclusions}{_NEEDS_MET}"


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
        for ind in head.spec.indicators:
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
        t, start, end, possible, absent, sel = _terms_of(mc, fam_c, closed_on)
        none = keys_c[~np.isin(fam_c, np.unique(t.fam[sel]))]
        reasons.add(none, NOT_YET, lazy(lambda c: cat("no school term starting on or after closure on ", iso(c), " has ended by ", mc.as_of_text), closed_on[none // n_h]))
        reasons.add_evidence(raw_evidence(t, sel, "school_term", end), h)
        bad = sel[absent[sel] / possible[sel] >= p.absence_threshold]
        reasons.add(t.fam[bad] * n_h + h, NOT_MET, lazy(lambda rows: cat(who(ctx, t.person[rows]), ": absence ", pct(absent[rows] / possible[rows]), " in ", _term_label(t, rows), f" after closure (must be below {p.absence_threshold:.0%})"), bad))
        if p.check_exclusions and "exclusions" not in missing:
            # every child (at A) of a closed family: exclusions starting in (closed_on, A]
            kids = np.flatnonzero(mc.scope.status.child & np.isin(ctx.person_family, fam_c))
            lo = closed_on[ctx.person_family[kids]]
            hi = np.full(len(kids), mc.as_of)
            words = LazyWords(lambda i: cat(" after closure on ", iso(lo[i])), len(kids))
            _exclusion_reasons(ctx, reasons, h, kids, lo, hi, True, p.min_suspensions, words)

    def describe(self, params: Params, labels: str = "problem", headline: str = "the headline") -> str:
        return f"no recurrence of absence or exclusion between closure on {{closed_on}} and {{as_of}}{_NEEDS_MET}"
