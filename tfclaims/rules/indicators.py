"""The typed indicator catalogue and the vectorised machinery the rules engine evaluates it with.

An **indicator** is a small pure function over the cohort's tables: given, for every family, a test
date (and optionally an explicit window start), it returns the **evidence rows** that make the
indicator hold (one row per source row: family, person, source table and row, event date). Each
indicator has a stable ``code``, a pydantic parameter model (unknown keys are errors), the tables
it reads and a guidance reference. They are registered by code in :data:`CATALOGUE`.

Indicators never loop over families: the cohort is turned once into integer codes
(:class:`RulesContext`: family and person codes, dates as ``datetime64[ns]`` arrays) and every
indicator is a handful of numpy masks, takes and group counts over whole tables.

An indicator whose table was **not supplied** is *not evaluated*: :meth:`Indicator.evaluable`
is False and the caller reports it (it never makes a headline present, and a success measure
that reads it is ``not_evaluated``).

Success **measures** (how a headline is judged met at an as-of date) are named here too, with
their parameter models, so that a framework file can be validated without the tracking code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tfclaims.core.cohort import TABLES, Cohort
from tfclaims.schemas.inputs import FAMILY_EVENT_TABLES

NS = "datetime64[ns]"
NAT = np.datetime64("NaT", "ns")

RELATIONSHIPS: tuple[str, ...] = ("parent", "child", "other_adult", "non_resident_parent", "expectant_parent")
REL_PARENT, REL_CHILD, REL_OTHER_ADULT, REL_NRP, REL_EXPECTANT = range(5)
ADULT_RELATIONSHIPS = (REL_PARENT, REL_OTHER_ADULT, REL_NRP, REL_EXPECTANT)

# The internal (coded) evidence frame every indicator returns.
# The internal (coded) evidence frame every indicator returns: family code, person code (-1 = the
# family as a whole), table code (TABLE_NAMES), kept-row position ``k`` in the prepared table, the
# table row ``row``, indicator code (INDICATOR_NAMES) and the event date.
RAW_EVIDENCE_COLUMNS: tuple[str, ...] = ("fam", "person", "table", "k", "row", "indicator", "event_date")
TABLE_NAMES: list[str] = list(TABLES)
INDICATOR_NAMES: list[str] = []


# Words and kind (event / spell / terms) of each evidence indicator name that is not a catalogue
# code itself: a plan's named indicator entry (``mash_enquiries: {indicator: local_event, ...}``).
INDICATOR_LABELS: dict[str, str] = {}
INDICATOR_KINDS: dict[str, str] = {}


def indicator_code(name: str) -> int:
    """A small integer standing for an evidence indicator name (catalogue codes, needs_row, ...)."""
    if name not in INDICATOR_NAMES:
        INDICATOR_NAMES.append(name)
    return INDICATOR_NAMES.index(name)


def name_indicator(name: str, label: str, kind: str) -> None:
    """Record the words and kind of an evidence indicator name (a plan's indicator entry)."""
    INDICATOR_LABELS[name] = label
    INDICATOR_KINDS[name] = kind


def indicator_label(name: str) -> str:
    """The words of an evidence indicator name ("proven offence"; the name itself if unknown)."""
    if name in INDICATOR_LABELS:
        return INDICATOR_LABELS[name]
    return getattr(CATALOGUE.get(name), "label", name)


def indicator_kind(name: str) -> str:
    if name in INDICATOR_KINDS:
        return INDICATOR_KINDS[name]
    return getattr(CATALOGUE.get(name), "kind", "")


# --------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------


def as_ns(values: object) -> np.ndarray:
    """Any date-like array/Series/scalar as a ``datetime64[ns]`` numpy array (NaT for missing)."""
    if isinstance(values, pd.Series | pd.Index):
        return pd.to_datetime(values).to_numpy(dtype=NS)
    return np.asarray(pd.to_datetime(values), dtype=NS)


def shift_months(dates: np.ndarray, months: int) -> np.ndarray:
    """``dates`` moved by whole months, clamped to the month's end (31 Mar - 6 = 30 Sep)."""
    if months == 0:
        return dates.copy()
    idx = pd.DatetimeIndex(dates)
    return (idx + pd.DateOffset(months=months)).to_numpy(dtype=NS)


def shift_days(dates: np.ndarray, days: int | np.ndarray) -> np.ndarray:
    return dates + np.asarray(days, dtype="int64").astype("timedelta64[D]").astype("timedelta64[ns]")


def date_parts(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(year, month * 100 + day) of ``datetime64`` dates, in numpy (garbage where NaT)."""
    d = pd.DatetimeIndex(np.asarray(dates, dtype=NS))

    def part(values: pd.Index) -> np.ndarray:  # NaT gives NaN: 0 here (callers mask missing dates)
        return np.nan_to_num(values.to_numpy(dtype="float64"), nan=0.0).astype("int64")

    return part(d.year), part(d.month) * 100 + part(d.day)


def iso(dates: np.ndarray) -> np.ndarray:
    """Dates as ``YYYY-MM-DD`` strings (empty for NaT), vectorised: each distinct day is spelt once
    and looked up (an object array)."""
    ns = np.asarray(dates, dtype=NS)
    if len(ns) == 0:
        return np.array([], dtype=object)
    nat = np.isnat(ns)
    n = ns.view("int64") // 86_400_000_000_000  # whole days since 1970 (floor: midnight of the day)
    valid = n[~nat]
    if len(valid) == 0:
        return np.full(len(ns), "", dtype=object)
    lo, hi = int(valid.min()), int(valid.max())
    if hi - lo > 4 * len(ns) + 1000:  # sparse dates: spell the distinct ones only
        uniq, inv = np.unique(np.where(nat, lo, n), return_inverse=True)
        text = np.datetime_as_string(uniq.astype("datetime64[D]"), unit="D").astype(object)[inv]
    else:
        table = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]"), unit="D").astype(object)
        text = table[np.where(nat, lo, n) - lo]
    text[nat] = ""
    return text


def term_dates(academic_year: pd.Series, term: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Start and end dates of school terms: autumn 1 Sep-31 Dec of the first year; spring 1 Jan-31 Mar
    and summer 1 Apr-31 Jul of the second year (contract.md). Unknown values give NaT. Worked out
    once per distinct (academic year, term) pair -- a few dozen over millions of rows -- then taken."""
    yc, yu = pd.factorize(academic_year, use_na_sentinel=True)
    tc, tu = pd.factorize(term, use_na_sentinel=True)
    first = pd.to_numeric(pd.Series(np.asarray(yu, dtype=object), dtype="str").str.slice(0, 4), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    first = np.append(first, np.nan)  # code -1 (missing) takes the appended NaN
    names = np.append(np.asarray(tu, dtype=object), "")
    # each distinct term name classified once: 0 autumn, 1 spring, 2 summer, 3 unknown or missing
    kind = np.select([names == "autumn", names == "spring", names == "summer"], [0, 1, 2], 3)
    n_t = len(kind)
    pair_first = np.repeat(first, n_t)  # pair p = year code * n_t + term code (missing = last of each)
    pair_kind = np.tile(kind, len(first))
    ok = ~np.isnan(pair_first) & (pair_kind < 3)
    year = np.where(ok, np.where(pair_kind == 0, pair_first, pair_first + 1), 1970).astype("int64")
    start_month = np.array([9, 1, 4, 1])[pair_kind]  # 1-based month of the first day
    after_month = np.array([13, 4, 8, 1])[pair_kind]  # month after the last day
    start = ((year - 1970) * 12 + start_month - 1).astype("datetime64[M]").astype(NS)
    end = (((year - 1970) * 12 + after_month - 1).astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D")).astype(NS)
    start[~ok] = NAT
    end[~ok] = NAT
    pair = np.where(yc >= 0, yc, len(first) - 1) * n_t + np.where(tc >= 0, tc, n_t - 1)
    return start[pair], end[pair]


# --------------------------------------------------------------------------------------------
# the coded cohort
# --------------------------------------------------------------------------------------------


def lookup(keys: pd.Series | pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each of ``values`` in ``keys`` (-1 when absent or missing), via Arrow's hash
    lookup (several times faster than ``Index.get_indexer`` on Arrow-backed strings)."""
    try:
        k = pa.chunked_array([pa.array(np.asarray(keys.array if isinstance(keys, pd.Series) else keys, dtype=object), type=pa.string())]) if not _is_arrow(keys) else _arrow(keys)
        v = _arrow(values) if _is_arrow(values) else pa.chunked_array([pa.array(values.astype("str").to_numpy(dtype=object), type=pa.string())])
        k = k.combine_chunks() if isinstance(k, pa.ChunkedArray) else k
        out = pc.index_in(v, value_set=k).to_numpy(zero_copy_only=False)
        return np.nan_to_num(out.astype("float64"), nan=-1).astype("int64") if out.dtype.kind == "f" or out.dtype == object else out.astype("int64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # pragma: no cover - fall back on pandas
        return pd.Index(keys).get_indexer(pd.Index(values)).astype("int64")


def _is_arrow(x: pd.Series | pd.Index) -> bool:
    arr = x.array
    return hasattr(arr, "__arrow_array__") and pd.api.types.is_string_dtype(x.dtype)


def _arrow(x: pd.Series | pd.Index) -> pa.ChunkedArray | pa.Array:
    a = x.array.__arrow_array__()
    if a.type != pa.string() and a.type != pa.large_string():
        a = a.cast(pa.string())
    return a


@dataclass
class PreparedTable:
    """A supplied table resolved to family / person codes (rows that resolve to no family dropped)."""

    name: str
    frame: pd.DataFrame  # the table as supplied (positional rows)
    rows: np.ndarray  # positions of the kept rows in ``frame``
    person: np.ndarray  # person code per kept row (-1 = the family as a whole)
    fam: np.ndarray  # family code per kept row
    _dates: dict[str, np.ndarray] = field(default_factory=dict)
    _codes: dict[str, np.ndarray] = field(default_factory=dict)

    def date(self, column: str) -> np.ndarray:
        if column not in self._dates:
            if column in self.frame.columns:
                self._dates[column] = as_ns(self.frame[column])[self.rows]
            else:
                self._dates[column] = np.full(len(self.rows), NAT)
        return self._dates[column]

    def memo(self, key: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        """A per-kept-row array computed once under ``key`` (e.g. a framework's headline per row)."""
        if key not in self._codes:
            self._codes[key] = build()
        return self._codes[key]

    def text(self, column: str) -> np.ndarray:
        """A text column as a numpy object/str array ('' for missing)."""
        if column not in self._codes:
            if column in self.frame.columns:
                col = self.frame[column]
                self._codes[column] = col.astype("str").fillna("").to_numpy(dtype=object)[self.rows]
            else:
                self._codes[column] = np.full(len(self.rows), "", dtype=object)
        return self._codes[column]

    def file_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """source_file per kept row as codes into a small vocabulary (computed once)."""
        if "_file" not in self._codes:
            if "source_file" in self.frame.columns:
                codes, names = pd.factorize(self.frame["source_file"], use_na_sentinel=True)
                self._codes["_file"] = codes[self.rows]
                self._codes["_file_names"] = np.asarray(names, dtype=object)
            else:
                self._codes["_file"] = np.full(len(self.rows), -1)
                self._codes["_file_names"] = np.array([], dtype=object)
        return self._codes["_file"], self._codes["_file_names"]

    def source_rows(self) -> np.ndarray:
        if "_source_row" not in self._codes:
            if "source_row" in self.frame.columns:
                self._codes["_source_row"] = pd.to_numeric(self.frame["source_row"]).to_numpy(dtype="float64", na_value=-1)[self.rows].astype("int64")
            else:
                self._codes["_source_row"] = self.rows + 2
        return self._codes["_source_row"]

    def text_at(self, column: str, sel: np.ndarray) -> np.ndarray:
        """A text column at kept-row positions ``sel`` as an object array ('' for missing)."""
        if column not in self.frame.columns:
            return np.full(len(sel), "", dtype=object)
        return self.frame[column].take(self.rows[sel]).astype("str").fillna("").to_numpy(dtype=object)

    def eq(self, column: str, value: str) -> np.ndarray:
        if column not in self.frame.columns:
            return np.zeros(len(self.rows), dtype=bool)
        return self.frame[column].eq(value).fillna(False).to_numpy(dtype=bool)[self.rows]

    def number(self, column: str) -> np.ndarray:
        if column not in self.frame.columns:
            return np.zeros(len(self.rows), dtype="float64")
        return pd.to_numeric(self.frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)[self.rows]

    def isin(self, column: str, values: list[str] | tuple[str, ...] | None) -> np.ndarray:
        if values is None:
            return np.ones(len(self.rows), dtype=bool)
        if column not in self.frame.columns:
            return np.zeros(len(self.rows), dtype=bool)
        return self.frame[column].isin(list(values)).to_numpy(dtype=bool)[self.rows]


class RulesContext:
    """The cohort turned into integer codes once, shared by every evaluation of one run."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        people = cohort.people
        programme = cohort.get("programme")
        fam_ids = people["family_id"].astype("str")
        extra = programme["family_id"].astype("str") if programme is not None else fam_ids.iloc[:0]
        # first-appearance order: people's families, then programme-only families
        people_families = pd.unique(fam_ids.dropna())
        self.people_families = pd.Index(people_families, dtype="str")
        self.families = pd.Index(pd.unique(pd.concat([pd.Series(people_families, dtype="str"), extra], ignore_index=True).dropna()), dtype="str")
        self.person_ids = pd.Index(people["person_id"].astype("str"), dtype="str")
        self.person_family = lookup(self.families, fam_ids)
        self._family_rank: np.ndarray | None = None
        self._person_obj: np.ndarray | None = None
        self._family_obj: np.ndarray | None = None
        self._person_arrow: pa.Array | None = None
        self._family_arrow: pa.Array | None = None
        self._person_codes: dict[str, np.ndarray] = {}
        self._code_all_persons()
        self.person_dob = as_ns(people["date_of_birth"])
        self._dob_parts: tuple[np.ndarray, np.ndarray] | None = None
        rel = people["relationship"].astype("str")
        self.person_rel = np.full(len(people), -1, dtype="int8")
        for i, name in enumerate(RELATIONSHIPS):
            self.person_rel[rel.eq(name).fillna(False).to_numpy(dtype=bool)] = i
        self._prepared: dict[str, PreparedTable | None] = {}

    def _code_all_persons(self) -> None:
        """person_id -> person code for every supplied table in one Arrow hash lookup."""
        names = [n for n, t in self.cohort.tables.items() if n != "people" and "person_id" in t.columns and len(t)]
        if not names:
            return
        cols = [self.cohort.tables[n]["person_id"] for n in names]
        if all(_is_arrow(c) for c in cols):
            def chunks_of(x: pd.Series | pd.Index) -> list[pa.Array]:
                a = _arrow(x)
                parts = a.chunks if isinstance(a, pa.ChunkedArray) else [a]
                return [ch.cast(pa.large_string()) for ch in parts]

            values = pa.chunked_array([ch for c in cols for ch in chunks_of(c)], type=pa.large_string())
            value_set = pa.chunked_array(chunks_of(pd.Series(self.person_ids, dtype="str")), type=pa.large_string()).combine_chunks()
            out = pc.index_in(values, value_set=value_set)
            codes = out.to_numpy(zero_copy_only=False)
            codes = np.where(pd.isna(codes), -1, codes).astype("int64") if codes.dtype.kind in "fO" else codes.astype("int64")
            start = 0
            for n, c in zip(names, cols):
                self._person_codes[n] = codes[start : start + len(c)]
                start += len(c)

    def person_ids_arrow(self) -> pa.Array:
        """person ids as one Arrow string array (for takes)."""
        if self._person_arrow is None:
            self._person_arrow = pa.array(self.person_ids_obj, type=pa.string(), from_pandas=True)
        return self._person_arrow

    def families_arrow(self) -> pa.Array:
        """family ids as one Arrow string array (for takes)."""
        if self._family_arrow is None:
            self._family_arrow = pa.array(self.families_obj, type=pa.string(), from_pandas=True)
        return self._family_arrow

    @property
    def person_ids_obj(self) -> np.ndarray:
        if self._person_obj is None:
            self._person_obj = self.person_ids.to_numpy(dtype=object)
        return self._person_obj

    @property
    def families_obj(self) -> np.ndarray:
        if self._family_obj is None:
            self._family_obj = self.families.to_numpy(dtype=object)
        return self._family_obj

    @property
    def family_rank(self) -> np.ndarray:
        """Each family code's position when family ids are sorted as text (for stable output order)."""
        if self._family_rank is None:
            order = np.argsort(self.families_obj, kind="stable")
            rank = np.empty(len(order), dtype="int64")
            rank[order] = np.arange(len(order))
            self._family_rank = rank
        return self._family_rank

    @property
    def n_families(self) -> int:
        return len(self.families)

    def supplied(self, table: str) -> bool:
        return self.cohort.supplied(table)

    def memo(self, name: str) -> dict[object, object]:
        """A named dictionary kept with the context (results of one run computed once, e.g.
        presence at a date)."""
        return self.__dict__.setdefault(f"_memo_{name}", {})

    def prepared(self, table: str) -> PreparedTable | None:
        """The table with family and person codes, or None when it was not supplied."""
        if table in self._prepared:
            return self._prepared[table]
        frame = self.cohort.get(table)
        if frame is None:
            self._prepared[table] = None
            return None
        frame = frame.reset_index(drop=True)
        n = len(frame)
        if "person_id" in frame.columns:
            person = self._person_codes.get(table)
            if person is None or len(person) != n:
                person = lookup(self.person_ids, frame["person_id"])
        else:
            person = np.full(n, -1, dtype="int64")
        if (table == "needs" or table in FAMILY_EVENT_TABLES) and "family_id" in frame.columns:
            # needs rows name their family; housing and local_events rows may name a family instead of a person
            fam = lookup(self.families, frame["family_id"])
            from_person = (fam < 0) & (person >= 0)
            fam[from_person] = self.person_family[person[from_person]]
            if table in ("needs", "local_events"):
                # a row naming both a family and someone outside it is the family's, not that person's
                named = person >= 0
                person[named & (self.person_family[np.where(named, person, 0)] != fam)] = -1
        else:
            fam = np.where(person >= 0, self.person_family[np.where(person >= 0, person, 0)], -1)
        keep = np.flatnonzero(fam >= 0)
        prepared = PreparedTable(table, frame, keep, person[keep], fam[keep])
        self._prepared[table] = prepared
        return prepared

    def status(self, as_of: np.ndarray) -> PersonStatus:
        """Who is a member / child / adult at each family's own test date."""
        d = as_of[self.person_family] if len(self.person_family) else np.array([], dtype=NS)
        has_date = ~np.isnat(d)
        member = has_date & ~np.isnat(self.person_dob) & (self.person_dob <= np.where(has_date, d, self.person_dob))
        if self._dob_parts is None:
            self._dob_parts = date_parts(self.person_dob)
        by, bmd = self._dob_parts
        fy, fmd = date_parts(as_of)  # per family, then per person
        missing = np.isnat(self.person_dob) | ~has_date
        age = np.where(missing, -1, fy[self.person_family] - by - (fmd[self.person_family] < bmd)) if len(d) else np.array([], dtype="int64")
        child = member & (self.person_rel == REL_CHILD) & (age < 18)
        adult = member & np.isin(self.person_rel, ADULT_RELATIONSHIPS) & (age >= 18)
        expectant = member & (self.person_rel == REL_EXPECTANT)
        return PersonStatus(member=member, child=child, adult=adult, dependent=child | expectant, age=age)


@dataclass
class PersonStatus:
    member: np.ndarray
    child: np.ndarray
    adult: np.ndarray
    dependent: np.ndarray
    age: np.ndarray  # whole years at the family's test date (-1 when unknown)

    def who(self, who: str) -> np.ndarray:
        return {"member": self.member, "child": self.child, "adult": self.adult}[who]


@dataclass
class Scope:
    """One evaluation: a test date per family code (NaT = family not evaluated).

    ``since`` (per family) replaces an indicator's own look-back window with an explicit exclusive
    start: success measures ("none in the 6 months to A") and sf-2022's no-recurrence rule
    (``(closed_on, A]``) use it. ``recurrence`` is True for those uses.
    """

    ctx: RulesContext
    as_of: np.ndarray
    since: np.ndarray | None = None
    recurrence: bool = False
    _status: PersonStatus | None = None

    @property
    def status(self) -> PersonStatus:
        if self._status is None:
            self._status = self.ctx.status(self.as_of)
        return self._status

    def recurrence_since(self, since: np.ndarray) -> Scope:
        """The same test dates and person status, judging recurrence after ``since`` (per family)."""
        return Scope(self.ctx, self.as_of, since=since, recurrence=True, _status=self.status)

    def recurrence_between(self, since: np.ndarray, until: np.ndarray) -> Scope:
        """Recurrence in ``(since, until]`` (per family) judged with this scope's person status (who
        is a member, their ages): the same people over another period."""
        return Scope(self.ctx, until, since=since, recurrence=True, _status=self.status)

    def window_start(self, months: int) -> np.ndarray:
        if self.since is not None:
            return self.since
        cache = self.__dict__.setdefault("_starts", {})
        if months not in cache:
            cache[months] = shift_months(self.as_of, -months)
        return cache[months]


def empty_raw_evidence() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fam": np.array([], dtype="int64"),
            "person": np.array([], dtype="int64"),
            "table": np.array([], dtype="int64"),
            "k": np.array([], dtype="int64"),
            "row": np.array([], dtype="int64"),
            "indicator": np.array([], dtype="int64"),
            "event_date": np.array([], dtype=NS),
        }
    )


def raw_evidence(t: PreparedTable, sel: np.ndarray, indicator: str, dates: np.ndarray) -> pd.DataFrame:
    """Evidence rows for the kept-row positions ``sel`` of a prepared table."""
    return pd.DataFrame(
        {
            "fam": t.fam[sel],
            "person": t.person[sel],
            "table": np.full(len(sel), TABLE_NAMES.index(t.name), dtype="int64"),
            "k": np.asarray(sel, dtype="int64"),
            "row": t.rows[sel],
            "indicator": np.full(len(sel), indicator_code(indicator), dtype="int64"),
            "event_date": dates[sel] if len(dates) == len(t.rows) else dates,
        }
    )


def _who_mask(scope: Scope, t: PreparedTable, who: str, family_rows_count: bool = False) -> np.ndarray:
    """Rows whose person is a ``who`` at the family's test date (family-level rows: if allowed)."""
    has_person = t.person >= 0
    ok = np.zeros(len(t.rows), dtype=bool)
    mask = scope.status.who(who)
    ok[has_person] = mask[t.person[has_person]]
    if family_rows_count:
        ok[~has_person] = ~np.isnat(scope.as_of[t.fam[~has_person]])
    return ok


def _event_mask(scope: Scope, t: PreparedTable, dates: np.ndarray, months: int) -> np.ndarray:
    end = scope.as_of[t.fam]
    start = scope.window_start(months)[t.fam]
    return (dates > start) & (dates <= end)


SpellMatch = Literal["overlaps", "starts_within", "open_at"]


def _spell_mask(scope: Scope, t: PreparedTable, months: int, match: SpellMatch = "overlaps") -> np.ndarray:
    """Spells of the window ``(S, E]`` (S = E - ``months``, or the scope's ``since``), by ``match``:

    - ``overlaps``: the spell shares a day with the window (started on or before E, end blank or after S);
    - ``starts_within``: the spell's start is in the window (after S, on or before E);
    - ``open_at``: the spell is open on E itself (started on or before E, end blank or after E); no window.
    """
    end = scope.as_of[t.fam]
    s, e = t.date("start_date"), t.date("end_date")
    if match == "open_at":
        return (s <= end) & (np.isnat(e) | (e > end)) & ~np.isnat(end)
    start = scope.window_start(months)[t.fam]
    if match == "starts_within":
        return (s > start) & (s <= end)
    return (s <= end) & (np.isnat(e) | (e > start)) & ~np.isnat(end)


def spell_words(months: int, match: SpellMatch) -> str:
    """How a spell indicator's window reads: 'overlapping the 12 months to the test date'."""
    if match == "open_at":
        return "open on the test date"
    if match == "starts_within":
        return f"starting in the {months} months to the test date"
    return f"overlapping the {months} months to the test date"


def term_window_start(as_of: np.ndarray, terms: int) -> np.ndarray:
    """First day of the earliest of the ``terms`` school terms up to and including the term that
    contains each date (autumn 1 Sep-31 Dec, spring 1 Jan-31 Mar, summer 1 Apr-31 Jul; a date in
    August is in the summer term just ended). Month arithmetic on whole arrays; NaT stays NaT."""
    nat = np.isnat(as_of)
    m = np.where(nat, 0, as_of.astype("datetime64[M]").astype("int64"))  # months since Jan 1970
    year, month = m // 12 + 1970, m % 12 + 1
    # terms counted from autumn 1970: 3 per academic year, autumn 0, spring 1, summer 2
    academic = np.where(month >= 9, year, year - 1) - 1970
    pos = np.where(month >= 9, 0, np.where(month <= 3, 1, 2))
    first = academic * 3 + pos - (terms - 1)
    fy, fp = np.floor_divide(first, 3), np.mod(first, 3)
    start_month = np.where(fp == 0, fy * 12 + 8, np.where(fp == 1, (fy + 1) * 12, (fy + 1) * 12 + 3))  # Sep / Jan / Apr
    out = start_month.astype("datetime64[M]").astype(NS)
    out[nat] = NAT
    return out


def _window_mask(scope: Scope, t: PreparedTable, dates: np.ndarray, months: int, terms: int | None) -> np.ndarray:
    """Events in the ``months`` to the test date, or (``terms`` set, outside recurrence) from the first
    day of the earliest of the latest ``terms`` school terms to the test date, that day included."""
    if terms is None or scope.since is not None:
        return _event_mask(scope, t, dates, months)
    cache = scope.__dict__.setdefault("_term_starts", {})
    if terms not in cache:
        cache[terms] = term_window_start(scope.as_of, terms)
    end = scope.as_of[t.fam]
    return (dates >= cache[terms][t.fam]) & (dates <= end)


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Relationship = Literal["parent", "child", "other_adult", "non_resident_parent", "expectant_parent"]


class IndicatorParams(Params):
    """Parameters every indicator takes: a **person filter** on the people whose rows count.

    Ages are whole years at the test date (D for eligibility, A for success), bounds inclusive
    ("under 18" is ``max_age: 17``). With any filter set, rows naming no person (a household's
    rows) do not count."""

    min_age: int | None = Field(None, ge=0, le=120, description="only people at least this old at the test date")
    max_age: int | None = Field(None, ge=0, le=120, description="only people at most this old at the test date")
    relationships: tuple[Relationship, ...] | None = Field(None, description="only people with these relationships")

    @model_validator(mode="after")
    def _ages_in_order(self) -> IndicatorParams:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self

    @property
    def filters_people(self) -> bool:
        return self.min_age is not None or self.max_age is not None or self.relationships is not None

    def person_words(self) -> str:
        """The filter in words ('' when none): ' (people aged 10 to 17; relationship child)'."""
        parts = []
        if self.min_age is not None and self.max_age is not None:
            parts.append(f"aged {self.min_age} to {self.max_age}")
        elif self.min_age is not None:
            parts.append(f"aged {self.min_age} or over")
        elif self.max_age is not None:
            parts.append(f"aged {self.max_age} or under")
        if self.relationships is not None:
            parts.append("whose relationship is " + " or ".join(r.replace("_", " ") for r in self.relationships))
        return f" (only people {' and '.join(parts)} at the test date)" if parts else ""


def person_filter_mask(scope: Scope, t: PreparedTable, params: Params) -> np.ndarray:
    """Kept rows of ``t`` whose person passes ``params``' person filter (all rows when none)."""
    if not isinstance(params, IndicatorParams) or not params.filters_people:
        return np.ones(len(t.rows), dtype=bool)
    return _person_ok(scope, t.person, params)


def people_matching(scope: Scope, person: np.ndarray, params: IndicatorParams) -> np.ndarray:
    """Which of the person codes ``person`` pass ``params``' person filter at the scope's dates."""
    return _person_ok(scope, person, params)


def _person_ok(scope: Scope, person: np.ndarray, params: IndicatorParams) -> np.ndarray:
    named = person >= 0
    p = np.where(named, person, 0)
    ok = named.copy()
    if params.min_age is not None or params.max_age is not None:
        age = scope.status.age[p] if len(p) else np.array([], dtype="int64")
        ok &= age >= 0
        if params.min_age is not None:
            ok &= age >= params.min_age
        if params.max_age is not None:
            ok &= age <= params.max_age
    if params.relationships is not None:
        wanted = np.array([RELATIONSHIPS.index(r) for r in params.relationships], dtype="int8")
        ok &= np.isin(scope.ctx.person_rel[p], wanted)
    return ok


class WindowParams(IndicatorParams):
    window_months: int = Field(12, ge=1, le=120, description="look-back window: the N months to D")


class Indicator(ABC):
    """Base class of a catalogue entry: a subclass says what it reads and implements ``evaluate``."""

    code: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    params_model: ClassVar[type[Params]] = WindowParams
    kind: ClassVar[Literal["event", "spell", "terms"]] = "event"
    who: ClassVar[str] = "member"
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    label: ClassVar[str] = ""  # the indicator in a few words ("proven offence")

    def evaluable(self, ctx: RulesContext) -> bool:
        return all(ctx.supplied(t) for t in self.tables)

    def missing_tables(self, ctx: RulesContext) -> list[str]:
        return [t for t in self.tables if not ctx.supplied(t)]

    @abstractmethod
    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        """Evidence rows (RAW_EVIDENCE_COLUMNS) for the families in ``scope``."""

    #: True when :meth:`evaluate` applies the person filter itself (before counting rows)
    filters_people_itself: ClassVar[bool] = False

    def evidence(self, scope: Scope, params: Params, name: str | None = None) -> pd.DataFrame:
        """:meth:`evaluate` with the person filter applied, the rows named ``name`` (a plan's entry)."""
        ev = self.evaluate(scope, params)
        if not self.filters_people_itself and isinstance(params, IndicatorParams) and params.filters_people and len(ev):
            ev = ev[_person_ok(scope, ev["person"].to_numpy(dtype="int64"), params)].reset_index(drop=True)
        if name is not None and name != self.code:
            ev["indicator"] = indicator_code(name)
        return ev

    def words(self, params: Params) -> dict[str, str]:
        """Extra fields of :attr:`description` computed from the parameters (none by default)."""
        return {}

    def describe(self, params: Params) -> str:
        """The rule in words, its parameters filled in ("cin or cp", "any" for a blank list, "yes"/"no"),
        with the person filter when one is set."""
        words = self.description.format(**{**{k: _words(v) for k, v in params.model_dump().items()}, **self.words(params)})
        return words + (params.person_words() if isinstance(params, IndicatorParams) else "")


def _words(value: object) -> object:
    """A parameter as it reads in a sentence; numbers stay numbers (``{absence_threshold:.0%}``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "any"
    if isinstance(value, tuple | list):
        items = [str(v) for v in value]
        return " or ".join(items) if len(items) <= 2 else ", ".join(items[:-1]) + " or " + items[-1]
    return value


CATALOGUE: dict[str, Indicator] = {}


def register(cls: type[Indicator]) -> type[Indicator]:
    if cls.code in CATALOGUE:
        raise ValueError(f"indicator code {cls.code!r} registered twice")
    CATALOGUE[cls.code] = cls()
    return cls


@register
class ProvenOffence(Indicator):
    code = "proven_offence"
    tables = ("offences",)
    description = "a member with a proven offence in the {window_months} months to the test date"
    reference = "frameworks.md tf-phase2 crime_asb; domain-rules.md 2.1-2.2"
    label = "proven offence"

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        t = scope.ctx.prepared("offences")
        assert t is not None and isinstance(params, WindowParams)
        d = t.date("offence_date")
        ok = t.eq("outcome", "proven") & _who_mask(scope, t, "member") & _event_mask(scope, t, d, params.window_months)
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


@register
class AsbIncident(Indicator):
    code = "asb_incident"
    tables = ("asb_incidents",)
    description = "a member with an ASB incident in the {window_months} months to the test date"
    reference = "frameworks.md tf-phase2 crime_asb; domain-rules.md 2.1-2.2"
    label = "ASB incident"

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        t = scope.ctx.prepared("asb_incidents")
        assert t is not None and isinstance(params, WindowParams)
        d = t.date("incident_date")
        ok = _who_mask(scope, t, "member") & _event_mask(scope, t, d, params.window_months)
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


AbsenceType = Literal["total", "unauthorised"]


class AbsenceParams(IndicatorParams):
    terms: int = Field(3, ge=1, le=9, description="the latest N terms with data ending on or before D")
    absence_threshold: float = Field(0.10, gt=0, le=1, description="absence rate at or above this is a problem")
    absence_type: AbsenceType = Field("total", description="total (authorised + unauthorised) or unauthorised absence only")


def term_table(scope: Scope, absence_type: AbsenceType = "total") -> tuple[PreparedTable, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """school_attendance with term start/end, sessions possible and absent (authorised and
    unauthorised, or ``absence_type`` unauthorised only), and which rows have data."""
    t = scope.ctx.prepared("school_attendance")
    assert t is not None
    start, end = school_terms(t)
    possible = t.number("sessions_possible")
    absent = np.nan_to_num(t.number("sessions_unauthorised_absence"))
    if absence_type == "total":
        absent = absent + np.nan_to_num(t.number("sessions_authorised_absence"))
    has_data = possible > 0  # a term with 0 possible sessions has no rate and is skipped
    return t, start, end, possible, absent, has_data


def school_terms(t: PreparedTable) -> tuple[np.ndarray, np.ndarray]:
    """Start and end date of each kept school_attendance row's term, worked out once per table."""
    if "_term_start" not in t._dates:
        start, end = term_dates(t.frame["academic_year"], t.frame["term"])
        t._dates["_term_start"], t._dates["_term_end"] = start[t.rows], end[t.rows]
    return t._dates["_term_start"], t._dates["_term_end"]


def latest_terms(person: np.ndarray, end: np.ndarray, sel: np.ndarray, k: int, order: np.ndarray | None = None) -> np.ndarray:
    """Of the row positions ``sel``, those that are among each person's latest ``k`` by term end.
    ``order``: every row's positions sorted by person then latest end first, when the caller keeps
    it (``latest_school_terms``); the rows of ``sel`` are then picked from it, not sorted again."""
    if len(sel) == 0:
        return sel
    if order is None:
        s = sel[np.lexsort((-end[sel].astype("int64"), person[sel]))]
    else:
        picked = np.zeros(len(person), dtype=bool)
        picked[sel] = True
        s = order[picked[order]]  # a stable sort's order, filtered: the same as sorting sel
    p = person[s]
    first = np.r_[True, p[1:] != p[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(s)), 0))
    rank = np.arange(len(s)) - group_start
    return s[rank < k]


def latest_school_terms(t: PreparedTable, sel: np.ndarray, k: int) -> np.ndarray:
    """``latest_terms`` on school_attendance rows: the table's rows are sorted by child and term end
    once, and each call picks its rows from that order."""
    _, end = school_terms(t)
    order = t.memo("_latest_terms_order", lambda: np.lexsort((-end.astype("int64"), t.person)))
    return latest_terms(t.person, end, sel, k, order)


@register
class SchoolAbsence(Indicator):
    code = "school_absence"
    tables = ("school_attendance",)
    params_model = AbsenceParams
    kind = "terms"
    who = "child"
    description = (
        "a child whose {absence_words} over their latest {terms} terms ending on or before the test date "
        "is at or above {absence_threshold:.0%}"
    )
    reference = "frameworks.md tf-phase2 education; domain-rules.md 2.2 (10% of sessions, last three terms)"
    label = "school absence"

    def words(self, params: Params) -> dict[str, str]:
        return {"absence_words": "unauthorised absence" if getattr(params, "absence_type", "total") == "unauthorised" else "absence"}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, AbsenceParams)
        t, start, end, possible, absent, has_data = term_table(scope, params.absence_type)
        as_of = scope.as_of[t.fam]
        base = has_data & _who_mask(scope, t, "child") & (end <= as_of)
        if scope.since is not None:
            # recurrence: any term that starts on or after the window start, at or above the threshold
            since = scope.since[t.fam]
            ok = base & (start >= since) & (absent / np.where(has_data, possible, 1) >= params.absence_threshold)
            return raw_evidence(t, np.flatnonzero(ok), self.code, end)
        used = latest_school_terms(t, np.flatnonzero(base), params.terms)
        if len(used) == 0:
            return raw_evidence(t, used, self.code, end)
        codes, inv = np.unique(t.person[used], return_inverse=True)
        tot_abs = np.bincount(inv, weights=absent[used])
        tot_pos = np.bincount(inv, weights=possible[used])
        failing = (tot_abs / tot_pos) >= params.absence_threshold
        return raw_evidence(t, used[failing[inv]], self.code, end)


class ExclusionParams(WindowParams):
    """An exclusion indicator's window: the ``window_months`` to D, or ``window_terms`` school terms."""

    window_terms: int | None = Field(
        None, ge=1, le=9,
        description="the N school terms up to and including the term containing D (from its first day to D), instead of window_months",
    )

    @model_validator(mode="after")
    def _one_window(self) -> ExclusionParams:
        default = type(self).model_fields["window_months"].default
        if self.window_terms is not None and self.window_months != default:
            raise ValueError(
                f"window_terms ({self.window_terms}) replaces window_months; window_months {self.window_months} "
                f"would be ignored: set one of them (window_months back to {default}, or remove window_terms)"
            )
        return self

    def window_words(self) -> str:
        if self.window_terms is not None:
            return f"in the {self.window_terms} school term{'s' if self.window_terms > 1 else ''} to the test date"
        return f"in the {self.window_months} months to the test date"


class SuspensionParams(ExclusionParams):
    min_suspensions: int = Field(3, ge=1, le=50, description="this many suspensions or more in the window")


@register
class RepeatedSuspensions(Indicator):
    code = "repeated_suspensions"
    tables = ("exclusions",)
    params_model = SuspensionParams
    who = "child"
    description = "a child with {min_suspensions} or more suspensions starting {window_words}"
    reference = "frameworks.md tf-phase2 education; domain-rules.md 2.2 (3 fixed-term exclusions)"
    label = "suspension"

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, ExclusionParams)
        return {"window_words": params.window_words()}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, SuspensionParams)
        t = scope.ctx.prepared("exclusions")
        assert t is not None
        d = t.date("start_date")
        ok = t.eq("exclusion_type", "suspension") & _who_mask(scope, t, "child") & _window_mask(scope, t, d, params.window_months, params.window_terms)
        sel = np.flatnonzero(ok)
        if len(sel):
            _, inv, counts = np.unique(t.person[sel], return_inverse=True, return_counts=True)
            sel = sel[counts[inv] >= params.min_suspensions]
        return raw_evidence(t, sel, self.code, d)


@register
class PermanentExclusion(Indicator):
    code = "permanent_exclusion"
    tables = ("exclusions",)
    params_model = ExclusionParams
    who = "child"
    description = "a child with a permanent exclusion starting {window_words}"
    reference = "frameworks.md tf-phase2 education; domain-rules.md 2.2"
    label = "permanent exclusion"

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, ExclusionParams)
        return {"window_words": params.window_words()}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, ExclusionParams)
        t = scope.ctx.prepared("exclusions")
        assert t is not None
        d = t.date("start_date")
        ok = t.eq("exclusion_type", "permanent") & _who_mask(scope, t, "child") & _window_mask(scope, t, d, params.window_months, params.window_terms)
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


class SpellParams(IndicatorParams):
    """A spell indicator's window and how a spell must meet it (:func:`_spell_mask`)."""

    window_months: int = Field(12, ge=1, le=120, description="look-back window: the N months to D")
    match: SpellMatch = Field(
        "overlaps", description="overlaps: shares a day with the window; starts_within: starts in it; open_at: open on D (window ignored)"
    )


class EpisodeParams(SpellParams):
    episode_types: tuple[Literal["early_help", "cin", "cp", "lac"], ...] = ("cin", "cp")


@register
class SocialCareEpisode(Indicator):
    code = "social_care_episode"
    tables = ("social_care",)
    params_model = EpisodeParams
    kind = "spell"
    who = "child"
    description = "a child with a {episode_types} episode {spell_words}"
    reference = "frameworks.md tf-phase2 children_need_help; domain-rules.md 2.1 (child in need, CP plan)"
    label = "social-care episode"

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, SpellParams)
        return {"spell_words": spell_words(params.window_months, params.match)}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, EpisodeParams)
        t = scope.ctx.prepared("social_care")
        assert t is not None
        ok = t.isin("episode_type", params.episode_types) & _who_mask(scope, t, "child") & _spell_mask(scope, t, params.window_months, params.match)
        return raw_evidence(t, np.flatnonzero(ok), self.code, t.date("start_date"))


class BenefitParams(SpellParams):
    window_months: int = Field(6, ge=1, le=120, description="look-back window: the N months to D")
    benefit_types: tuple[str, ...] | None = Field(
        None, description="out-of-work benefit codes; blank = the framework's out_of_work_benefits list"
    )


@register
class OutOfWorkBenefit(Indicator):
    code = "out_of_work_benefit"
    tables = ("benefits",)
    params_model = BenefitParams
    kind = "spell"
    who = "adult"
    description = "an adult with an out-of-work benefit spell {spell_words}"
    reference = "frameworks.md tf-phase2 worklessness; contract.md benefits; data/reference/benefits.yaml"
    label = "out-of-work benefit"

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, SpellParams)
        return {"spell_words": spell_words(params.window_months, params.match)}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, BenefitParams)
        t = scope.ctx.prepared("benefits")
        assert t is not None
        ok = t.isin("benefit_type", params.benefit_types or ()) & _who_mask(scope, t, "adult") & _spell_mask(scope, t, params.window_months, params.match)
        return raw_evidence(t, np.flatnonzero(ok), self.code, t.date("start_date"))


class DomesticAbuseParams(IndicatorParams):
    window_months: int = Field(12, ge=1, le=120)
    roles: tuple[Literal["victim", "perpetrator", "child_in_household", "unknown"], ...] | None = Field(
        None, description="roles that count; blank = any role"
    )


@register
class DomesticAbuseIncident(Indicator):
    code = "domestic_abuse_incident"
    tables = ("domestic_abuse",)
    params_model = DomesticAbuseParams
    description = "a member in a domestic-abuse incident in the {window_months} months to the test date"
    reference = "frameworks.md tf-phase2 domestic_abuse; domain-rules.md 2.2"
    label = "domestic-abuse incident"

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, DomesticAbuseParams)
        t = scope.ctx.prepared("domestic_abuse")
        assert t is not None
        d = t.date("incident_date")
        ok = t.isin("role", params.roles) & _who_mask(scope, t, "member") & _event_mask(scope, t, d, params.window_months)
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


HealthIssue = Literal["mental_health", "physical_health", "substance_misuse", "alcohol_misuse", "maternity", "disability", "other"]


class HealthParams(IndicatorParams):
    window_months: int = Field(12, ge=1, le=120)
    issues: tuple[HealthIssue, ...] = ("mental_health", "physical_health", "substance_misuse", "alcohol_misuse")


@register
class HealthRecord(Indicator):
    code = "health_record"
    tables = ("health",)
    params_model = HealthParams
    description = "a member with a health record ({issues}) in the {window_months} months to the test date"
    reference = "frameworks.md tf-phase2 health, sf-2022 health / substance_use"
    label = "health record"

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, HealthParams)
        t = scope.ctx.prepared("health")
        assert t is not None
        d = t.date("recorded_on")
        ok = t.isin("issue", params.issues) & _who_mask(scope, t, "member") & _event_mask(scope, t, d, params.window_months)
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


HousingIssue = Literal["homeless", "temporary_accommodation", "eviction_notice", "rent_arrears", "overcrowding", "tenancy_asb"]


class HousingParams(IndicatorParams):
    window_months: int = Field(12, ge=1, le=120)
    issues: tuple[HousingIssue, ...] | None = Field(None, description="issues that count; blank = any")
    unresolved: bool = Field(True, description="only records not resolved on or before the test date")


@register
class HousingRecord(Indicator):
    code = "housing_record"
    tables = ("housing",)
    params_model = HousingParams
    description = "a housing record (issues: {issues}) in the {window_months} months to the test date (only those still unresolved then: {unresolved})"
    reference = "frameworks.md sf-2022 housing"
    label = "housing record"

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, HousingParams)
        t = scope.ctx.prepared("housing")
        assert t is not None
        d = t.date("recorded_on")
        ok = t.isin("issue", params.issues) & _who_mask(scope, t, "member", family_rows_count=True)
        ok &= _event_mask(scope, t, d, params.window_months)
        if params.unresolved and not scope.recurrence:
            resolved = t.date("resolved_on")
            ok &= np.isnat(resolved) | (resolved > scope.as_of[t.fam])
        return raw_evidence(t, np.flatnonzero(ok), self.code, d)


class RentArrearsParams(HousingParams):
    issues: tuple[HousingIssue, ...] | None = ("rent_arrears",)
    unresolved: bool = False


@register
class RentArrears(HousingRecord):
    code = "rent_arrears"
    params_model = RentArrearsParams
    description = "a rent-arrears housing record in the {window_months} months to the test date"
    reference = "frameworks.md sf-2022 financial_stability"
    label = "rent-arrears record"


# --------------------------------------------------------------------------------------------
# the council's own data: local_events and local_spells, by the codes its plan declares
# --------------------------------------------------------------------------------------------

LOCAL_INDICATOR_TABLES: dict[str, str] = {}  # catalogue code -> the local table its ``codes`` belong to


def _local_codes_tuple(codes: tuple[str, ...]) -> tuple[str, ...]:
    if not codes:
        raise ValueError("at least one local code")
    bad = [c for c in codes if not c or c != c.strip() or any(ch.isspace() for ch in c)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a code (no spaces)")
    return codes


def code_mask(t: PreparedTable, codes: tuple[str, ...]) -> np.ndarray:
    """Kept rows of a local table whose ``code`` is one of ``codes``, matched without regard to case
    (as ingest matches them against the plan's declaration)."""
    if "code" not in t.frame.columns or not codes:
        return np.zeros(len(t.rows), dtype=bool)
    lower = t.memo("_code_lower", lambda: t.frame["code"].astype("str").str.lower().fillna("").to_numpy(dtype=object)[t.rows])
    return np.isin(lower, [c.lower() for c in codes])


class LocalEventParams(WindowParams):
    codes: tuple[str, ...] = Field(min_length=1, description="local codes of local_events (declared by the plan's local_codes)")
    min_count: int = Field(1, ge=1, le=1000, description="at least this many matching events in the window")
    count_per: Literal["family", "person"] = Field("family", description="count over the household's rows (family) or per person")
    min_value: float | None = Field(None, description="only rows whose value is at least this (rows without a value never count)")

    @model_validator(mode="after")
    def _codes(self) -> LocalEventParams:
        _local_codes_tuple(self.codes)
        return self


@register
class LocalEvent(Indicator):
    """Events of the council's own systems (``local_events``) with one of ``codes``, dated in the
    ``window_months`` to D (``(D - N months, D]``; in a recurrence scope ``(since, A]``).

    ``min_count`` matching rows are needed: over all the family's rows (``count_per: family``:
    household rows and members' rows together) or one person's (``count_per: person``: household
    rows never count). ``min_value`` keeps only rows whose ``value`` is at least that. The person
    filter is applied before counting, and with a filter household rows do not count. A member's row
    counts when the member is born by the test date; a household row counts for its family. The
    evidence is every matching row of a family (or person) that reaches the count."""

    code = "local_event"
    tables = ("local_events",)
    params_model = LocalEventParams
    kind = "event"
    description = "{count_words} {codes_words} in the {window_months} months to the test date{value_words}"
    reference = "the council's local outcome plan (local_codes of local_events)"
    label = "local event"
    filters_people_itself = True

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, LocalEventParams)
        n = params.min_count
        per = "the family" if params.count_per == "family" else "one person"
        count = f"{'a' if n == 1 else f'{n} or more'} local event{'s' if n > 1 else ''} of {per}"
        value = f" with a value of at least {params.min_value:g}" if params.min_value is not None else ""
        return {"count_words": count, "codes_words": "coded " + " or ".join(params.codes), "value_words": value}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, LocalEventParams)
        t = scope.ctx.prepared("local_events")
        assert t is not None
        d = t.date("event_date")
        ok = code_mask(t, params.codes) & _who_mask(scope, t, "member", family_rows_count=True) & _event_mask(scope, t, d, params.window_months)
        if params.min_value is not None:
            value = t.number("value") if "value" in t.frame.columns else np.full(len(t.rows), np.nan)
            ok &= value >= params.min_value  # a row without a value (NaN) never counts
        ok &= person_filter_mask(scope, t, params)
        if params.count_per == "person":
            ok &= t.person >= 0
        sel = np.flatnonzero(ok)
        if params.min_count > 1 and len(sel):
            by = t.fam[sel] if params.count_per == "family" else t.person[sel]
            _, inv, counts = np.unique(by, return_inverse=True, return_counts=True)
            sel = sel[counts[inv] >= params.min_count]
        return raw_evidence(t, sel, self.code, d)


class LocalSpellParams(SpellParams):
    codes: tuple[str, ...] = Field(min_length=1, description="local codes of local_spells (declared by the plan's local_codes)")

    @model_validator(mode="after")
    def _codes(self) -> LocalSpellParams:
        _local_codes_tuple(self.codes)
        return self


@register
class LocalSpell(Indicator):
    """Spells of the council's own systems (``local_spells``) with one of ``codes``, of a member at
    the test date, meeting the window by ``match`` (:func:`_spell_mask`: ``overlaps`` the
    ``window_months`` to D, ``starts_within`` them, or ``open_at`` D)."""

    code = "local_spell"
    tables = ("local_spells",)
    params_model = LocalSpellParams
    kind = "spell"
    description = "a member with a local spell coded {codes_words} {spell_words}"
    reference = "the council's local outcome plan (local_codes of local_spells)"
    label = "local spell"

    def words(self, params: Params) -> dict[str, str]:
        assert isinstance(params, LocalSpellParams)
        return {"codes_words": " or ".join(params.codes), "spell_words": spell_words(params.window_months, params.match)}

    def evaluate(self, scope: Scope, params: Params) -> pd.DataFrame:
        assert isinstance(params, LocalSpellParams)
        t = scope.ctx.prepared("local_spells")
        assert t is not None
        ok = code_mask(t, params.codes) & _who_mask(scope, t, "member") & _spell_mask(scope, t, params.window_months, params.match)
        return raw_evidence(t, np.flatnonzero(ok), self.code, t.date("start_date"))


LOCAL_INDICATOR_TABLES.update({LocalEvent.code: "local_events", LocalSpell.code: "local_spells"})
