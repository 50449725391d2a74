"""The rules kernel: what identify and track (and the success measures) share.

- the coded cohort of one run (:func:`context`, reused while the cohort's tables are the same);
- presence of each framework headline per family at per-family dates (:func:`presence`,
  :func:`presence_on`) and the needs rows behind it;
- what could not be evaluated (:func:`not_evaluated`);
- Arrow-backed text output (:func:`str_array`, :func:`str_take`, :func:`family_strings`,
  :func:`headline_strings`) and evidence rows as output columns (:func:`materialise_evidence`);
- the statuses of outcomes and the reason rows that decide them (:class:`Reasons`), and
  vectorised sentences (:func:`cat`, :func:`fill`, :func:`lazy`, :class:`LazyWords`, :func:`who`,
  :func:`pct`).

Rules (frameworks.md): a headline is present at D when any of its catalogue indicators holds or a
needs row of that headline is open at D. Headlines evidenced only by ``non_resident_parent``
members add, all together, at most ``non_resident_parent_cap`` to the count. Eligible iff the
count is at least ``min_distinct_headlines`` and (when required) the family has a dependent at D.
Indicators whose table was not supplied are *not evaluated* and reported, never read as "no
problem".
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tfclaims.schemas.rules import EVIDENCE_COLUMNS
from tfclaims.core.cohort import Cohort
from tfclaims.rules.indicators import (
    NS,
    iso,
    REL_NRP,
    INDICATOR_NAMES,
    TABLE_NAMES,
    RulesContext,
    Scope,
    as_ns,
    lookup,
    empty_raw_evidence,
    raw_evidence,
)

if TYPE_CHECKING:  # frameworks imports the measure registry, which imports this module
    from tfclaims.rules.frameworks import Framework

__all__ = [
    "MET",
    "NEEDS_INDICATOR",
    "NOT_EVALUATED",
    "NOT_MET",
    "NOT_YET",
    "STATUS_NAMES",
    "Detail",
    "LazyWords",
    "Reasons",
    "cat",
    "fill",
    "lazy",
    "pct",
    "who",
    "NOT_EVALUATED_COLUMNS",
    "EXCLUSION_HEADLINE",
    "Exclusions",
    "Presence",
    "apply_exclusions",
    "exclusion_words",
    "clear_context_cache",
    "context",
    "empty_evidence",
    "family_dates",
    "family_strings",
    "headline_strings",
    "headline_text",
    "materialise_evidence",
    "needs_headline_index",
    "needs_open_at",
    "not_evaluated",
    "presence",
    "presence_on",
    "str_array",
    "str_take",
    "uncovered_words",
]

NEEDS_INDICATOR = "needs_row"
NOT_EVALUATED_COLUMNS = ("headline", "indicator", "missing_table")


@dataclass
class Presence:
    """Headlines present per family code at per-family dates (coded; materialised on demand)."""

    as_of: np.ndarray  # per family code (NaT = not evaluated)
    evidence: pd.DataFrame  # raw evidence + "headline" (str) + "h" (headline index)
    pair_fam: np.ndarray  # one entry per (family, headline) present
    pair_h: np.ndarray
    pair_resident: np.ndarray  # evidenced by someone other than a non-resident parent
    headline_count: np.ndarray  # per family code, after the non-resident-parent cap
    headline_mask: np.ndarray  # per family code, bit h set when headline h is present
    has_dependent: np.ndarray
    eligible: np.ndarray
    exclusions: Exclusions | None = None  # eligibility.exclude_when (None: the framework has none)


@dataclass
class Exclusions:
    """What ``eligibility.exclude_when`` found at the test dates: the evidence rows (column ``x``:
    the exclusion's index in ``framework.eligibility_exclusions``), the exclusions that could not be
    checked (a table not supplied), and which families they make not eligible."""

    evidence: pd.DataFrame
    unchecked: tuple[int, ...]
    excluded: np.ndarray  # per family code
    # per exclusion, the families tested after the day its table is known to (annual returns): not checkable
    uncovered: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)


def uncovered_words(table: str, covered_to: object) -> str:
    """Why a rule reading ``table`` after the day it is known to (it came from annual returns) is not evaluated."""
    return (f"not evaluated: {table} is known only to {covered_to} (the latest return's reference date), "
            "so an episode after that day cannot be ruled out")


def _uncovered_after(ctx: RulesContext, tables: tuple[str, ...], as_of: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per family code, whether its test date falls after the day one of ``tables`` is known to; and those tables."""
    late = np.zeros(len(as_of), dtype=bool)
    named = []
    for t in tables:
        end = ctx.cohort.covered_to.get(t)
        if end is not None:
            after = as_of > np.datetime64(pd.Timestamp(end), "ns")
            if after.any():
                late |= after
                named.append(t)
    return late, named


EXCLUSION_HEADLINE = "exclude_when"  # the headline column of an exclusion's evidence rows


_LAST_CONTEXT: list[tuple[tuple[int, ...], RulesContext]] = []


def context(cohort: Cohort | RulesContext) -> RulesContext:
    """The coded cohort; the last one built is reused while the cohort's tables are the same
    objects (identify then track on one cohort code it once)."""
    if isinstance(cohort, RulesContext):
        return cohort
    key = (id(cohort), *(id(t) for t in cohort.tables.values()), *map(hash, cohort.tables))
    if _LAST_CONTEXT and _LAST_CONTEXT[0][0] == key and _LAST_CONTEXT[0][1].cohort is cohort:
        return _LAST_CONTEXT[0][1]
    ctx = RulesContext(cohort)
    _LAST_CONTEXT[:] = [(key, ctx)]
    return ctx


def clear_context_cache() -> None:
    _LAST_CONTEXT.clear()


# --------------------------------------------------------------------------------------------
# needs rows
# --------------------------------------------------------------------------------------------


def needs_headline_index(ctx: RulesContext, framework: Framework) -> np.ndarray | None:
    """Headline index per kept needs row (-1 = headline not in this framework); None if no needs table."""
    t = ctx.prepared("needs")
    if t is None:
        return None

    def build() -> np.ndarray:
        if "headline" not in t.frame:
            return np.full(len(t.rows), -1)
        return lookup(pd.Index(list(framework.headline_codes), dtype="str"), t.frame["headline"])[t.rows]

    return t.memo(f"_h:{framework.name}", build)


def needs_open_at(ctx: RulesContext, framework: Framework, as_of: np.ndarray) -> pd.DataFrame:
    """Evidence rows of needs rows open at each family's date (identified by then, not withdrawn,
    not closed by then), with the headline index in column ``h``."""
    t = ctx.prepared("needs")
    if t is None:
        ev = empty_raw_evidence()
        ev["h"] = np.array([], dtype="int64")
        return ev
    h = needs_headline_index(ctx, framework)
    assert h is not None
    d = as_of[t.fam]
    identified, outcome_on = t.date("identified_on"), t.date("outcome_on")
    still_open = t.eq("outcome", "open") | (t.isin("outcome", ["met", "not_met"]) & (outcome_on > d))
    ok = (h >= 0) & (identified <= d) & ~t.eq("outcome", "withdrawn") & still_open
    sel = np.flatnonzero(ok)
    ev = raw_evidence(t, sel, NEEDS_INDICATOR, identified)
    ev["h"] = h[sel]
    return ev


# --------------------------------------------------------------------------------------------
# presence at per-family dates
# --------------------------------------------------------------------------------------------


def presence(ctx: RulesContext, framework: Framework, as_of: np.ndarray) -> Presence:
    """Headlines present, headline count and eligibility of every family code at ``as_of``.

    With dated parameters each family is judged by the rules in force at its own date: families
    are grouped by the epoch their date falls in, each epoch is evaluated once (the other
    families' dates NaT) and the results are combined -- one vectorised pass per epoch."""
    if not framework.dated:
        return _presence(ctx, framework, as_of)
    epoch = framework.epoch_of(as_of)
    found = np.unique(epoch[epoch >= 0])
    if len(found) <= 1:
        return _presence(ctx, framework.at_epoch(int(found[0])) if len(found) else framework, as_of)
    nat = np.full(len(as_of), np.datetime64("NaT", "ns"))
    parts = [_presence(ctx, framework.at_epoch(int(e)), np.where(epoch == e, as_of, nat)) for e in found]
    n_h = max(len(framework.headlines), 1)
    key = np.concatenate([p.pair_fam * n_h + p.pair_h for p in parts])
    order = np.argsort(key, kind="stable")  # as one pass orders them: by family, then headline
    return Presence(
        as_of=as_of,
        evidence=pd.concat([p.evidence for p in parts], ignore_index=True),
        pair_fam=np.concatenate([p.pair_fam for p in parts])[order],
        pair_h=np.concatenate([p.pair_h for p in parts])[order],
        pair_resident=np.concatenate([p.pair_resident for p in parts])[order],
        headline_count=np.sum([p.headline_count for p in parts], axis=0).astype("int64"),
        headline_mask=np.bitwise_or.reduce([p.headline_mask for p in parts]),
        has_dependent=np.logical_or.reduce([p.has_dependent for p in parts]),
        eligible=np.logical_or.reduce([p.eligible for p in parts]),
        exclusions=_combined_exclusions([p.exclusions for p in parts]),
    )


def _combined_exclusions(parts: list[Exclusions | None]) -> Exclusions | None:
    """The exclusions of several epochs' presence (disjoint families) as one."""
    found = [x for x in parts if x is not None]
    if not found:
        return None
    return Exclusions(
        evidence=pd.concat([x.evidence for x in found], ignore_index=True),
        unchecked=tuple(sorted({i for x in found for i in x.unchecked})),
        excluded=np.logical_or.reduce([x.excluded for x in found]),
    )


def _presence(ctx: RulesContext, framework: Framework, as_of: np.ndarray) -> Presence:
    """:func:`presence` under one set of rules (``framework``'s own values)."""
    scope = Scope(ctx, as_of)
    parts = []
    for h, spec in enumerate(framework.headlines.values()):
        for ind in spec.indicators:
            if not ind.indicator.evaluable(ctx):
                continue
            ev = ind.evidence(scope)
            ev["h"] = h
            parts.append(ev)
    parts.append(needs_open_at(ctx, framework, as_of))
    ev = pd.concat(parts, ignore_index=True) if parts else empty_raw_evidence().assign(h=np.array([], dtype="int64"))
    ev["h"] = ev["h"].astype("int64")
    codes = np.array(framework.headline_codes, dtype=object)

    n_fam = ctx.n_families
    n_h = len(codes)
    fam = ev["fam"].to_numpy(dtype="int64")
    person = ev["person"].to_numpy(dtype="int64")
    nrp = np.zeros(len(ev), dtype=bool)
    named = person >= 0
    nrp[named] = ctx.person_rel[person[named]] == REL_NRP
    key = fam * n_h + ev["h"].to_numpy(dtype="int64")
    uniq, inv = np.unique(key, return_inverse=True)
    resident = np.bincount(inv, weights=(~nrp).astype("float64"), minlength=len(uniq)) > 0
    pair_fam, pair_h = uniq // max(n_h, 1), uniq % max(n_h, 1)

    n_resident = np.bincount(pair_fam[resident], minlength=n_fam)
    n_nrp_only = np.bincount(pair_fam[~resident], minlength=n_fam)
    count = n_resident + np.minimum(n_nrp_only, framework.eligibility.non_resident_parent_cap)
    mask = np.zeros(n_fam, dtype="int64")
    np.bitwise_or.at(mask, pair_fam, (np.int64(1) << pair_h.astype("int64")))

    status = scope.status
    has_dep = np.bincount(ctx.person_family[status.dependent], minlength=n_fam) > 0
    eligible = count >= framework.eligibility.min_distinct_headlines
    if framework.eligibility.require_dependent:
        eligible &= has_dep
    eligible &= ~np.isnat(as_of)
    eligible, exclusions = apply_exclusions(ctx, framework, scope, eligible)
    return Presence(as_of, ev, pair_fam, pair_h, resident, count.astype("int64"), mask, has_dep, eligible, exclusions)


def apply_exclusions(ctx: RulesContext, framework: Framework, scope: Scope, eligible: np.ndarray) -> tuple[np.ndarray, Exclusions | None]:
    """``eligible`` with ``eligibility.exclude_when`` applied: a family for which any exclusion holds
    at its test date is not eligible. An exclusion whose table was not supplied cannot be checked:
    it makes every family with a test date not eligible (absence is never read as "no problem").
    Nothing is done (and nothing costs) when the framework has no exclusions."""
    specs = framework.eligibility_exclusions
    if not specs:
        return eligible, None
    parts, unchecked = [], []
    excluded = np.zeros(ctx.n_families, dtype=bool)
    uncovered: dict[int, np.ndarray] = {}
    for x, spec in enumerate(specs):
        if not spec.indicator.evaluable(ctx):
            unchecked.append(x)
            excluded |= ~np.isnat(scope.as_of)
            continue
        late, _ = _uncovered_after(ctx, spec.indicator.tables, scope.as_of)
        if late.any():  # tested after the day its table is known to: cannot be shown not to hold
            uncovered[x] = late
            excluded |= late
        ev = spec.evidence(scope)
        ev["x"] = x
        parts.append(ev)
        excluded[ev["fam"].to_numpy(dtype="int64")] = True
    ev = pd.concat(parts, ignore_index=True) if parts else empty_raw_evidence().assign(x=np.array([], dtype="int64"))
    return eligible & ~excluded, Exclusions(ev, tuple(unchecked), excluded, uncovered)


def exclusion_words(ctx: RulesContext, framework: Framework, p: Presence, fams: np.ndarray) -> np.ndarray:
    """Why each of ``fams`` is excluded, in words ('' when it is not): per exclusion that holds, its
    label and its first evidence row ("open social-care case: C1: social-care episode from
    2020-05-01 (and 1 more)"), or that it could not be checked; several joined with '; '."""
    out = np.full(len(fams), "", dtype=object)
    x = p.exclusions
    if x is None or len(fams) == 0:
        return out
    specs = framework.eligibility_exclusions
    pos = np.full(ctx.n_families, -1, dtype="int64")
    pos[fams] = np.arange(len(fams))
    ev = x.evidence
    f, xi = ev["fam"].to_numpy(dtype="int64"), ev["x"].to_numpy(dtype="int64")
    dates = as_ns(ev["event_date"])
    person = ev["person"].to_numpy(dtype="int64")
    for i, spec in enumerate(specs):
        if i in x.unchecked:
            missing = ", ".join(spec.indicator.missing_tables(ctx))
            words = f"{spec.label}: not evaluated ({missing} not supplied), so the family cannot be shown not to be excluded"
            hit = np.flatnonzero(~np.isnat(p.as_of[fams]))
            out[hit] = np.where(out[hit] == "", words, out[hit] + "; " + words)
            continue
        if i in x.uncovered:
            _, tables = _uncovered_after(ctx, spec.indicator.tables, p.as_of)
            known = ", ".join(f"{t} is known only to {ctx.cohort.covered_to[t]}" for t in tables)
            words = f"{spec.label}: not evaluated ({known}, the latest return's reference date), so the family cannot be shown not to be excluded"
            hit = np.flatnonzero(x.uncovered[i][fams])
            out[hit] = np.where(out[hit] == "", words, out[hit] + "; " + words)
        rows = np.flatnonzero((xi == i) & (pos[f] >= 0))
        if len(rows) == 0:
            continue
        order = rows[np.lexsort((dates[rows].astype("int64"), f[rows]))]
        first = np.r_[True, f[order][1:] != f[order][:-1]]
        starts = np.flatnonzero(first)
        n = np.diff(np.r_[starts, len(order)])
        head = order[starts]
        on = " from " if spec.indicator.kind == "spell" else " on "
        more = np.where(n > 1, np.char.add(np.char.add(" (and ", (n - 1).astype(str)), " more)").astype(object), "")
        named = f"{spec.label}: " if spec.label != spec.indicator.label else ""
        words = cat(named, who(ctx, person[head]), ": ", spec.indicator.label or spec.kind, on, iso(dates[head]), more)
        at = pos[f[head]]
        out[at] = np.where(out[at] == "", words, cat(out[at], "; ", words))
    return out


def headline_text(framework: Framework, masks: np.ndarray) -> np.ndarray:
    """';'-joined sorted headline codes for each headline bit mask."""
    uniq, inv, texts = _headline_vocab(framework, masks)
    return texts[inv] if len(masks) else np.array([], dtype=object)


def headline_strings(framework: Framework, masks: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """:func:`headline_text` as a pandas ``str`` array (an Arrow take from the distinct texts)."""
    uniq, inv, texts = _headline_vocab(framework, masks)
    return str_take(texts, inv) if len(masks) else pd.array([], dtype="str")


def _headline_vocab(framework: Framework, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = framework.headline_codes
    uniq, inv = np.unique(masks, return_inverse=True)
    texts = np.array([";".join(sorted(c for i, c in enumerate(codes) if (int(m) >> i) & 1)) for m in uniq], dtype=object)
    return uniq, inv, texts


def str_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """An object array of text (None/NaN = missing) as a pandas ``str`` array, through Arrow
    (several times faster than ``pd.array(values, dtype="str")``, same result)."""
    return pd.array(pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True), dtype="str")


def str_take(vocabulary: np.ndarray | list[str] | tuple[str, ...], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``vocabulary[codes]`` as a pandas ``str`` array (an Arrow take: no Python string per row)."""
    vocab = pa.array(np.asarray(vocabulary, dtype=object), type=pa.string(), from_pandas=True)
    return pd.array(vocab.take(pa.array(np.asarray(codes, dtype="int64"))), dtype="str")


def materialise_evidence(ctx: RulesContext, ev: pd.DataFrame, headlines: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Coded evidence rows as the output columns (family_id, headline, person_id, indicator, ...),
    sorted by family, headline, date, table, row. ``headlines`` names the codes in column ``h``.
    Text columns are built with Arrow takes from small vocabularies."""
    n = len(ev)
    if n == 0:
        return empty_evidence()
    fam = ev["fam"].to_numpy(dtype="int64")
    person = ev["person"].to_numpy(dtype="int64")
    kept = ev["k"].to_numpy(dtype="int64")
    tc = ev["table"].to_numpy(dtype="int64")
    ic = ev["indicator"].to_numpy(dtype="int64")
    hv = np.asarray(headlines, dtype=object)
    h_rank = np.argsort(np.argsort(hv.astype(str)))
    hc = ev["h"].to_numpy(dtype="int64")
    dates = as_ns(ev["event_date"])
    rows = ev["row"].to_numpy(dtype="int64")
    # order by (family, headline) rank, date (NaT first), table, row: three int64 keys, same order
    group = ctx.family_rank[fam] * len(hv) + h_rank[hc]
    source = tc * (int(rows.max()) + 1 if n else 1) + rows
    order = np.lexsort((source, dates.astype("int64"), group))
    fam, person, kept, hc, tc, ic, dates = fam[order], person[order], kept[order], hc[order], tc[order], ic[order], dates[order]

    vocab = str_take
    person_id = pd.array(ctx.person_ids_arrow().take(pa.array(person, mask=person < 0)), dtype="str")
    # source_file and source_row from each table's cached codes (kept-row positions)
    file_code = np.full(n, -1, dtype="int64")
    source_row = np.zeros(n, dtype="int64")
    names: list[object] = []
    for i in np.unique(tc):
        sel = np.flatnonzero(tc == i)
        t = ctx.prepared(TABLE_NAMES[i])
        assert t is not None
        pos = kept[sel]
        codes, table_names = t.file_codes()
        c = codes[pos]
        file_code[sel] = np.where(c >= 0, c + len(names), -1)
        names.extend(table_names.tolist())
        source_row[sel] = t.source_rows()[pos]
    source_file = str_take(names + [None], np.where(file_code >= 0, file_code, len(names)))
    return pd.DataFrame(
        {
            "family_id": family_strings(ctx, fam),
            "headline": vocab(hv, hc),
            "person_id": person_id,
            "indicator": vocab(INDICATOR_NAMES, ic),
            "source_table": vocab(TABLE_NAMES, tc),
            "source_file": source_file,
            "source_row": pd.array(source_row, dtype="Int64"),
            "event_date": dates,
        }
    )


def family_strings(ctx: RulesContext, fams: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """family_id of each family code as a pandas ``str`` array (an Arrow take)."""
    return pd.array(ctx.families_arrow().take(pa.array(np.asarray(fams, dtype="int64"))), dtype="str")


def empty_evidence() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": pd.array([], dtype="str"),
            "headline": pd.array([], dtype="str"),
            "person_id": pd.array([], dtype="str"),
            "indicator": pd.array([], dtype="str"),
            "source_table": pd.array([], dtype="str"),
            "source_file": pd.array([], dtype="str"),
            "source_row": pd.array([], dtype="Int64"),
            "event_date": np.array([], dtype=NS),
        }
    )[list(EVIDENCE_COLUMNS)]


def not_evaluated(ctx: RulesContext, framework: Framework) -> tuple[pd.DataFrame, list[str]]:
    """Indicators (and needs) whose tables were not supplied; headlines with no source at all."""
    rows = []
    whole = []
    for code, spec in framework.headlines.items():
        usable = False
        for ind in spec.indicators:
            missing = ind.indicator.missing_tables(ctx)
            rows += [(code, ind.code, t) for t in missing]
            usable |= not missing
        for ind in spec.success_only_indicators():  # judged for success only (success.indicators)
            rows += [(code, ind.code, t) for t in ind.indicator.missing_tables(ctx)]
        if not ctx.supplied("needs"):
            rows.append((code, NEEDS_INDICATOR, "needs"))
        else:
            usable = True
        if not usable:
            whole.append(code)
    for spec in framework.eligibility_exclusions:  # an unchecked exclusion makes families not eligible
        rows += [(EXCLUSION_HEADLINE, spec.code, t) for t in spec.indicator.missing_tables(ctx)]
    frame = pd.DataFrame(rows, columns=list(NOT_EVALUATED_COLUMNS)).astype("str")
    return frame, whole



def presence_on(ctx: RulesContext, framework: Framework, d: np.datetime64) -> Presence:
    """Presence of every family (people and programme) at one date; the last one is kept on the
    context, so identify(A) then track(A) on one cohort evaluate the date once."""
    framework = framework.at(d)  # the rules in force on d (itself without dated parameters)
    key = ("presence_on", id(framework), framework.sha256, framework.plan.sha256 if framework.plan else "", int(d.astype("int64")))
    cache = ctx.memo("presence_on")
    if key not in cache:
        cache.clear()
        cache[key] = presence(ctx, framework, np.full(ctx.n_families, d))
    result = cache[key]
    assert isinstance(result, Presence)
    return result


def family_dates(ctx: RulesContext, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A Series family_id -> date as a per-family-code date array, and the family codes it names."""
    fams = ctx.families.get_indexer(pd.Index(dates.index.astype("str")))
    if (fams < 0).any():
        unknown = dates.index[fams < 0][:3].tolist()
        raise KeyError(f"families not in people or programme: {unknown}")
    arr = np.full(ctx.n_families, np.datetime64("NaT", "ns"))
    arr[fams] = as_ns(pd.Series(dates.to_numpy()))
    return arr, fams




# --------------------------------------------------------------------------------------------
# outcome statuses, their reason rows and vectorised sentences
# --------------------------------------------------------------------------------------------

NOT_EVALUATED, NOT_MET, NOT_YET, MET = 0, 1, 2, 3
STATUS_NAMES = np.array(["not_evaluated", "not_met", "not_yet", "met"], dtype=object)


def cat(*parts: object) -> np.ndarray:
    """Element-wise string concatenation of arrays and scalars (an object array)."""
    out: np.ndarray | None = None
    n = max((len(p) for p in parts if isinstance(p, np.ndarray)), default=1)
    for p in parts:
        if out is None:
            out = p.astype(object) if isinstance(p, np.ndarray) else np.full(n, str(p), dtype=object)
        else:
            out = out + (p if isinstance(p, np.ndarray) and p.dtype == object else p.astype(object) if isinstance(p, np.ndarray) else str(p))
    return out if out is not None else np.array([], dtype=object)


def fill(template: str, fields: Mapping[str, Callable[[], np.ndarray | str]]) -> np.ndarray:
    """``template`` with each ``{name}`` replaced element-wise by ``fields[name]()`` (an array or a
    text); only the fields the template names are computed. ``{{``/``}}`` are literal braces."""
    parts: list[object] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(fields[name]())
    return cat(*parts)


# A detail sentence built on demand: given positions into the reason rows it was added with, the
# sentences of those rows. Only the reasons that decide a headline's status are ever spelt out.
Detail = Callable[[np.ndarray], np.ndarray]


def lazy(build: Callable[..., np.ndarray], *columns: np.ndarray) -> Detail:
    """A :data:`Detail` that calls ``build`` with each of ``columns`` taken at the asked positions."""
    return lambda i: build(*(c[i] for c in columns))


class LazyWords:
    """An array of phrases spelt only where indexed (``words[i]`` builds the phrases at ``i``)."""

    def __init__(self, build: Callable[[np.ndarray], np.ndarray], n: int) -> None:
        self.build, self.n = build, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: np.ndarray) -> np.ndarray:
        return self.build(np.asarray(i, dtype="int64"))


def pct(rate: np.ndarray) -> np.ndarray:
    return np.char.mod("%.1f%%", rate * 100).astype(object)


def who(ctx: RulesContext, person: np.ndarray) -> np.ndarray:
    """The person id of each person code, "family" for a family-level row (-1)."""
    out = np.full(len(person), "family", dtype=object)
    named = person >= 0
    out[named] = ctx.person_ids_obj[person[named]]
    return out


class Reasons:
    """Collects (key, status, detail) rows, key = family code * H + headline index, and outcome
    evidence rows. A detail is a fixed sentence, an array of sentences, or a :data:`Detail` built
    later for the winning rows only. :meth:`decide` turns them into one status per key."""

    def __init__(self, n_h: int) -> None:
        self.n_h = n_h
        self.keys: list[np.ndarray] = []
        self.status: list[np.ndarray] = []
        self.detail: list[np.ndarray | str | Detail] = []
        self.evidence: list[pd.DataFrame] = []

    def add(self, keys: np.ndarray, status: int, detail: np.ndarray | str | Detail) -> None:
        keys = np.asarray(keys, dtype="int64")
        if len(keys) == 0:
            return
        self.keys.append(keys)
        self.status.append(np.full(len(keys), status, dtype="int8"))
        self.detail.append(detail)

    def add_evidence(self, ev: pd.DataFrame, h: int | np.ndarray) -> None:
        if len(ev):
            ev = ev.copy()
            ev["h"] = h
            self.evidence.append(ev)

    def extend(self, other: Reasons) -> None:
        """Add every reason and evidence row of ``other`` (same number of headlines)."""
        assert other.n_h == self.n_h
        self.keys += other.keys
        self.status += other.status
        self.detail += other.detail
        self.evidence += other.evidence

    def details(self, rows: np.ndarray) -> np.ndarray:
        """The detail sentences of reason rows ``rows`` (positions in the concatenated rows)."""
        out = np.full(len(rows), "", dtype=object)
        if len(rows) == 0:
            return out
        bounds = np.cumsum([0] + [len(k) for k in self.keys])
        batch = np.searchsorted(bounds, rows, side="right") - 1
        order = np.argsort(batch, kind="stable")
        starts = np.searchsorted(batch[order], np.arange(len(self.keys) + 1))
        for b in np.flatnonzero(starts[1:] > starts[:-1]):
            at = order[starts[b] : starts[b + 1]]
            local = rows[at] - bounds[b]
            d = self.detail[b]
            if isinstance(d, str):
                out[at] = d
            elif isinstance(d, np.ndarray):
                out[at] = d[local]
            else:
                out[at] = d(local)
        return out

    def decide(self, required: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Status (int8) and detail of each key of sorted ``required``: the lowest status of its
        reasons (``not_evaluated`` < ``not_met`` < ``not_yet``), ``met`` with an empty detail when
        it has none. One winning reason gives its sentence; several, the first by text and
        "; and N more" (independent of the order the reasons were added in)."""
        status = np.full(len(required), MET, dtype="int8")
        detail = np.full(len(required), "", dtype=object)
        if not self.keys or not len(required):
            return status, detail
        key = np.concatenate(self.keys)
        st = np.concatenate(self.status).astype("int64")
        pos_all = np.minimum(np.searchsorted(required, key), len(required) - 1)
        rows = np.flatnonzero(required[pos_all] == key)  # reasons of required headlines
        pos_all, st = pos_all[rows], st[rows]
        best = np.full(len(required), MET, dtype="int64")
        np.minimum.at(best, pos_all, st)
        win = st == best[pos_all]
        wpos, wst = pos_all[win], st[win]
        wdetail = self.details(rows[win])  # sentences of the winning reasons only
        n = np.bincount(wpos, minlength=len(required))
        # one winning reason: its detail; several: the first by text (independent of row order)
        single = n[wpos] == 1
        status[wpos] = wst
        detail[wpos[single]] = wdetail[single]
        if (~single).any():
            # the first detail by text of each headline with several (Arrow orders text by code point)
            mpos, mdetail = wpos[~single], wdetail[~single]
            by = pa.table({"pos": mpos, "detail": pa.array(mdetail, type=pa.string())})
            o = pc.sort_indices(by, sort_keys=[("pos", "ascending"), ("detail", "ascending")]).to_numpy()
            first = o[np.r_[True, mpos[o][1:] != mpos[o][:-1]]]
            p_ = mpos[first]
            detail[p_] = cat(mdetail[first], "; and ", (n[p_] - 1).astype(str).astype(object), " more")
        return status, detail
