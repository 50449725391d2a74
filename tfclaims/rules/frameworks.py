"""Outcome frameworks as data: load a framework file and, optionally, a council's local outcome plan.

A framework file (``data/frameworks/<name>.yaml``) names its headlines, the catalogue indicators
that evidence each (with parameters), the success measure of each headline, the eligibility rule,
the claim routes, the programme dates and the amounts. Every number in it is a **parameter**
written ``{value: ..., source: "...", tag: V|R|L|D}``; a bare number is an error, so nothing in a
framework is without a source.

A **local outcome plan** ``extends`` a framework, carries ``version``, ``approved_by`` and
``approved_on``, and may override parameters (``overrides``, the same shape as the framework),
add catalogue indicators to a headline (``add_indicators``) or remove them
(``remove_indicators``) -- no code. Unknown keys anywhere are a :class:`ConfigError` naming the
key's path (``overrides.headlines.education.indicators.school_absence.treshold``). A plan may
choose a headline's success measure (``overrides.headlines.<h>.success.measure``); adding or
removing an indicator of a headline whose measure judges its indicators must be stated there
(``indicators: identifying``, or a measure).

Any parameter may instead have **dated values**, ``{values: [{value, to}, {value, from}], source,
tag}`` (inclusive dates, contiguous, the first without ``from``, the last without ``to``). The
framework is then resolved once per epoch (between two change dates), every value validated as a
plain one; :meth:`Framework.at` gives the rules in force on a day, :attr:`Framework.dated` the
dated parameters and :meth:`Framework.epochs` the change dates. The rules engine judges
identification at each family's own date and success at the as-of date.

:func:`load_framework` returns a resolved, immutable :class:`Framework`; a run records its
``name``, ``version`` and file ``sha256`` (and the plan's) through :meth:`Framework.audit_record`.
"""

from __future__ import annotations

import bisect
import contextvars
import copy
import dataclasses
import datetime as dt
import fnmatch
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tfclaims.core.config import DEFAULT_FRAMEWORK
from tfclaims.core.errors import ConfigError
from tfclaims.core.local_codes import DeclaredCodes, is_factor_code
from tfclaims.schemas.inputs import LOCAL_TABLES

from tfclaims.rules.indicators import CATALOGUE, LOCAL_INDICATOR_TABLES, BenefitParams, Indicator, Params, Scope, name_indicator
from tfclaims.rules.measures import IDENTIFYING, Alternative
from tfclaims.rules.measures import MEASURE_REGISTRY as MEASURES
from tfclaims.core.resources import FRAMEWORKS_DIR, LOCAL_PLANS_DIR, REFERENCE_DIR, safe_yaml

TAGS = ("V", "R", "L", "D")
PARAM_KEYS = {"value", "source", "tag"}
DATED_KEYS = {"values", "source", "tag"}  # a parameter with dated values
ENTRY_KEYS = {"value", "from", "to"}  # one of its values
# what is not a parameter and so cannot have dated values (the structure of the framework)
UNDATED = ("name", "title", "version", "source", "outcome_model", "claim_routes", "headlines.*.label", "headlines.*.success.measure")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# resolved sections (plain values; their provenance is kept beside them)
# --------------------------------------------------------------------------------------------


class Programme(_Strict):
    attachments_from: dt.date
    attachments_to: dt.date
    period_end_to: dt.date
    transition_before: dt.date | None = Field(None, description="attachments before this go to manual review")


class Eligibility(_Strict):
    min_distinct_headlines: int = Field(ge=1, le=20)
    non_resident_parent_cap: int = Field(ge=0, le=20)
    require_dependent: bool = True
    # indicator entries (as a headline's indicators) any of which, holding at D, makes the family not
    # eligible at D; resolved into ``Framework.eligibility_exclusions``
    exclude_when: dict[str, dict[str, Any] | None] = Field(default_factory=dict)


class RequiredHeadlines(_Strict):
    present_at_as_of: bool


class ContinuousEmployment(_Strict):
    benefit_window_months: int = Field(ge=1, le=60)
    long_weeks: int = Field(ge=1, le=104)
    long_weeks_benefits: tuple[str, ...]
    short_weeks: int = Field(ge=1, le=104)


class SuccessfulFamilyOutcome(_Strict):
    sustain_after_closure_months: int = Field(ge=0, le=60)


class WholeFamilyWorking(_Strict):
    required: bool = True
    # local_events codes of which the family must have a row dated on or before A (a plan's extras:
    # a multi-agency plan, objectives mapped to the outcome plan, support received)
    evidence_codes: tuple[str, ...] = ()


class Amounts(_Strict):
    results_payment_pence: int = Field(ge=0)
    attachment_fee_pence: int = Field(ge=0)


class _HeadlineFile(_Strict):
    label: str
    indicators: dict[str, dict[str, Any]] = Field(default_factory=dict)
    success: dict[str, Any]


class _FrameworkFile(_Strict):
    name: str
    title: str
    version: str
    source: str
    outcome_model: Literal["ssp", "sfo"]
    programme: Programme
    out_of_work_benefits: tuple[str, ...]
    eligibility: Eligibility
    required_headlines: RequiredHeadlines
    claim_routes: tuple[Literal["ssp", "continuous_employment", "sfo"], ...]
    continuous_employment: ContinuousEmployment | None = None
    sfo: SuccessfulFamilyOutcome | None = None
    whole_family_working: WholeFamilyWorking
    amounts: Amounts
    allocation: int | None = Field(None, ge=0)
    headlines: dict[str, _HeadlineFile]


class _PlanFile(_Strict):
    extends: str
    name: str | None = None
    version: str
    approved_by: str = Field(min_length=1)
    approved_on: dt.date
    source: str | None = None
    description: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    add_indicators: dict[str, dict[str, dict[str, Any] | None]] = Field(default_factory=dict)
    remove_indicators: dict[str, list[str]] = Field(default_factory=dict)
    local_codes: list[Any] = Field(default_factory=list)  # each entry checked by _LocalCodeFile, with its index


class _LocalCodeFile(_Strict):
    code: str = Field(min_length=1, pattern=r"^\S+$")
    description: str = Field(min_length=1)
    table: str
    headlines: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# the resolved framework
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatedValue:
    """One value of a dated parameter and the days it is in force (inclusive; None = open-ended)."""

    value: Any
    start: dt.date | None = None  # ``from`` in the file
    end: dt.date | None = None  # ``to`` in the file

    def when(self) -> str:
        """"to 2015-08-31", "from 2015-09-01", "from 2015-09-01 to 2016-08-31" (or "always")."""
        if self.start and self.end:
            return f"from {self.start} to {self.end}"
        if self.start:
            return f"from {self.start}"
        return f"to {self.end}" if self.end else "always"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": list(self.value) if isinstance(self.value, tuple) else self.value}
        if self.start:
            out["from"] = self.start.isoformat()
        if self.end:
            out["to"] = self.end.isoformat()
        return out


@dataclass(frozen=True)
class Dated:
    """A parameter with dated values in the plain tree, until the tree is resolved at a date."""

    path: str
    entries: tuple[DatedValue, ...]

    def index_at(self, day: dt.date) -> int:
        for i, e in enumerate(self.entries):
            if (e.start is None or e.start <= day) and (e.end is None or day <= e.end):
                return i
        raise AssertionError(f"{self.path}: no value at {day}")  # the entries were checked contiguous


@dataclass(frozen=True)
class Provenance:
    """Where a parameter's value comes from. For a dated parameter ``value`` is its latest value
    and ``dated`` holds every value with its dates (one source and tag for them all)."""

    value: Any
    source: str
    tag: str
    dated: tuple[DatedValue, ...] = ()


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator entry of a headline: its name in the file (``code``: a catalogue code, or a
    plan's own name such as ``mash_enquiries`` with ``indicator: local_event``), the catalogue
    indicator it is (``kind``), its parameters and its words."""

    code: str
    params: Params
    kind: str = ""  # the catalogue code; blank = ``code``
    label: str = ""  # blank = the catalogue indicator's label

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.code)
        if not self.label:
            object.__setattr__(self, "label", CATALOGUE[self.kind].label or self.code)
        if self.code != self.kind:
            name_indicator(self.code, self.label, CATALOGUE[self.kind].kind)

    @property
    def indicator(self) -> Indicator:
        return CATALOGUE[self.kind]

    @property
    def tables(self) -> tuple[str, ...]:
        return self.indicator.tables

    def evidence(self, scope: Scope) -> pd.DataFrame:
        """The evidence rows of this entry for the families in ``scope`` (person filter applied)."""
        return self.indicator.evidence(scope, self.params, self.code)

    def describe(self) -> str:
        return self.indicator.describe(self.params)




def entry_kind(code: str, params: Mapping[str, Any] | None) -> str | None:
    """The catalogue indicator an entry ``code: params`` stands for (None when it names none)."""
    kind = (params or {}).get("indicator", code)
    return kind if isinstance(kind, str) and kind in CATALOGUE else None


def indicator_specs(entries: Mapping[str, Any], where: str, path: str, out_of_work_benefits: tuple[str, ...]) -> tuple[IndicatorSpec, ...]:
    """Indicator entries (``code: params``) as specs, every parameter checked by its indicator's model.

    ``where`` is the file named in errors, ``path`` the key path of the mapping
    (``overrides.headlines.education.indicators``)."""
    specs = []
    for code, params in entries.items():
        ipath = f"{path}.{code}"
        params = dict(params or {})
        if not isinstance(code, str) or not code.replace("_", "").isalnum():
            raise ConfigError(f"{where}: {ipath}: an indicator name is letters, digits and underscores")
        kind = entry_kind(code, params)
        if kind is None:
            named = params.get("indicator")
            what = f"indicator {named!r} is" if named is not None else f"{code!r} is"
            raise ConfigError(
                f"{where}: {ipath + ('.indicator' if named is not None else '')}: {what} not in the indicator catalogue "
                f"({', '.join(sorted(CATALOGUE))}); a named entry says which with indicator: <code>"
            )
        if code in CATALOGUE and code != kind:
            raise ConfigError(f"{where}: {ipath}.indicator: the name {code!r} is a catalogue indicator; name the entry otherwise")
        label = params.pop("label", None)
        params.pop("indicator", None)
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise ConfigError(f"{where}: {ipath}.label: a few words describing the indicator")
        try:
            p = CATALOGUE[kind].params_model.model_validate(params)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_errors(exc, ipath)}") from exc
        if isinstance(p, BenefitParams) and p.benefit_types is None:
            p = p.model_copy(update={"benefit_types": tuple(out_of_work_benefits)})
        specs.append(IndicatorSpec(code, p, kind, label or ""))
    return tuple(specs)


@dataclass(frozen=True)
class HeadlineSpec:
    """A headline: its identifying ``indicators`` and its success measure with parameters.
    ``success_indicators`` are the entries of ``success.indicators`` (the measure judges those
    instead of the identifying ones); None = ``identifying`` (or not given)."""

    code: str
    label: str
    indicators: tuple[IndicatorSpec, ...]
    measure: str
    measure_params: Params
    success_indicators: tuple[IndicatorSpec, ...] | None = None

    @property
    def judged_indicators(self) -> tuple[IndicatorSpec, ...]:
        """The indicator entries a measure that judges indicators judges."""
        return self.indicators if self.success_indicators is None else self.success_indicators

    def indicator_tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for i in self.indicators for t in i.tables))

    def judged_tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for i in self.judged_indicators for t in i.tables))

    def measure_tables(self) -> tuple[str, ...]:
        """Tables the success measure reads (needs always; the judged indicators' where used)."""
        return MEASURES[self.measure].tables(self.measure_params, self.judged_tables())

    def success_only_indicators(self) -> tuple[IndicatorSpec, ...]:
        """Indicator entries judged for success that do not identify the headline."""
        own = {i.code for i in self.indicators}
        return tuple(i for i in MEASURES[self.measure].judged_entries(self) if i.code not in own)


@dataclass(frozen=True)
class LocalCode:
    """A code the local plan declares for a local table (``local_events`` or ``local_spells``)."""

    code: str
    description: str
    table: str
    headlines: tuple[str, ...]


@dataclass(frozen=True)
class PlanInfo:
    path: str
    name: str
    version: str
    approved_by: str
    approved_on: dt.date
    sha256: str
    source: str | None = None


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    version: str
    source: str
    path: str
    sha256: str
    outcome_model: Literal["ssp", "sfo"]
    programme: Programme
    out_of_work_benefits: tuple[str, ...]
    eligibility: Eligibility
    required_headlines: RequiredHeadlines
    claim_routes: tuple[str, ...]
    continuous_employment: ContinuousEmployment | None
    sfo: SuccessfulFamilyOutcome | None
    whole_family_working: WholeFamilyWorking
    amounts: Amounts
    allocation: int | None
    headlines: dict[str, HeadlineSpec]
    plan: PlanInfo | None = None
    provenance: dict[str, Provenance] = field(default_factory=dict)
    local_codes: tuple[LocalCode, ...] = ()  # the plan's; none for a built-in framework
    eligibility_exclusions: tuple[IndicatorSpec, ...] = ()  # eligibility.exclude_when, resolved

    def local_code(self, code: str, table: str = "local_events") -> LocalCode | None:
        """The plan's declaration of ``code`` for ``table`` (matched without regard to case)."""
        return next((c for c in self.local_codes if c.table == table and c.code.lower() == code.lower()), None)
    # the parameters with dated values (path -> values); empty for most frameworks. The same on
    # every framework of one timeline: each holds the values in force in its own epoch.
    dated: dict[str, tuple[DatedValue, ...]] = field(default_factory=dict)
    _timeline: _Timeline | None = field(default=None, repr=False, compare=False)

    # ---- dated parameters: the rules in force at a date

    def epochs(self) -> tuple[dt.date, ...]:
        """The days on which a dated parameter changes value (sorted; empty without dated parameters)."""
        return self._timeline.epochs if self._timeline is not None else ()

    def at(self, day: object) -> Framework:
        """The framework with every dated parameter at its value on ``day`` (a date, a datetime64 or a
        Timestamp). Without dated parameters, the framework itself. The framework :func:`load_framework`
        returns holds the latest values (those in force from the last change on)."""
        if not self.dated or self._timeline is None:
            return self
        return self._timeline.frameworks[bisect.bisect_right(self._timeline.epochs, _as_date(day))]

    def at_epoch(self, i: int) -> Framework:
        """The framework of epoch ``i`` (0: before the first change; i: from ``epochs()[i - 1]``)."""
        if self._timeline is None:
            return self
        return self._timeline.frameworks[i]

    def epoch_of(self, dates: np.ndarray) -> np.ndarray:
        """The epoch of each of ``dates`` (``datetime64``; -1 where NaT), vectorised."""
        ns = np.asarray(dates, dtype="datetime64[ns]")
        if self._timeline is None or not self.dated:
            return np.where(np.isnat(ns), -1, 0).astype("int64")
        idx = np.searchsorted(self._timeline.epochs_ns, ns, side="right").astype("int64")
        return np.where(np.isnat(ns), -1, idx)

    def value_at(self, get: Callable[[Framework], Any], dates: np.ndarray) -> np.ndarray:
        """``get(framework in force)`` at each of ``dates`` (an object array; NaT: this framework's)."""
        ns = np.asarray(dates, dtype="datetime64[ns]")
        if not self.dated or self._timeline is None:
            out = np.empty(len(ns), dtype=object)
            out[:] = [get(self)] * len(ns)
            return out
        values = np.empty(len(self._timeline.frameworks) + 1, dtype=object)
        values[:] = [get(f) for f in self._timeline.frameworks] + [get(self)]
        return values[self.epoch_of(ns)]  # -1 (NaT) takes the last slot: this framework's

    def declared_local_codes(self) -> DeclaredCodes:
        """The plan's local codes per local table, as ingest validates the local tables against them."""
        codes = {t: tuple(c.code for c in self.local_codes if c.table == t) for t in LOCAL_TABLES}
        return DeclaredCodes(self.plan.name if self.plan else None, codes)

    @property
    def headline_codes(self) -> tuple[str, ...]:
        return tuple(self.headlines)

    @property
    def results_payment_pence(self) -> int:
        return self.amounts.results_payment_pence

    def indicator_codes(self) -> dict[str, tuple[str, ...]]:
        return {h: tuple(i.code for i in spec.indicators) for h, spec in self.headlines.items()}

    def audit_record(self) -> dict[str, Any]:
        """What a run records about the rules in force."""
        rec: dict[str, Any] = {"framework": self.name, "version": self.version, "sha256": self.sha256, "path": self.path}
        if self.plan is not None:
            rec["plan"] = {
                "name": self.plan.name,
                "version": self.plan.version,
                "approved_by": self.plan.approved_by,
                "approved_on": self.plan.approved_on.isoformat(),
                "sha256": self.plan.sha256,
                "path": self.plan.path,
            }
        return rec

    def to_dict(self) -> dict[str, Any]:
        """The resolved rules as plain data (for ``frameworks show`` and run summaries)."""
        return {
            **self.audit_record(),
            "title": self.title,
            "source": self.source,
            "outcome_model": self.outcome_model,
            "programme": {k: (v.isoformat() if v else None) for k, v in self.programme.model_dump().items()},
            "out_of_work_benefits": list(self.out_of_work_benefits),
            "eligibility": self.eligibility.model_dump(),
            "required_headlines": self.required_headlines.model_dump(),
            "claim_routes": list(self.claim_routes),
            "continuous_employment": self.continuous_employment.model_dump() if self.continuous_employment else None,
            "sfo": self.sfo.model_dump() if self.sfo else None,
            "whole_family_working": self.whole_family_working.model_dump(),
            "amounts": self.amounts.model_dump(),
            "allocation": self.allocation,
            "headlines": {
                code: {
                    "label": h.label,
                    "indicators": {i.code: _entry_dict(i) for i in h.indicators},
                    "success": _success_dict(h.measure, h.measure_params, h.success_indicators),
                }
                for code, h in self.headlines.items()
            },
            **({"dated": {p: [e.as_dict() for e in v] for p, v in self.dated.items()}} if self.dated else {}),
        }


@dataclass
class _Timeline:
    """The frameworks of one file (and plan) in each epoch of its dated parameters."""

    epochs: tuple[dt.date, ...]
    frameworks: list[Framework]
    epochs_ns: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.epochs_ns = np.array([np.datetime64(d, "ns") for d in self.epochs], dtype="datetime64[ns]")


def _as_date(day: object) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    return pd.Timestamp(day).date()  # type: ignore[arg-type]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _entry_dict(i: IndicatorSpec) -> dict[str, Any]:
    return {**({"indicator": i.kind} if i.kind != i.code else {}), **_jsonable(i.params.model_dump())}


def _success_dict(measure: str, params: Params, judged: tuple[IndicatorSpec, ...] | None) -> dict[str, Any]:
    """A success section as plain data: the measure, its parameters, the judged indicator entries."""
    m = MEASURES[measure]
    if m.composite:
        body: dict[str, Any] = {m.key: [_success_dict(a.measure, a.params, a.indicators) for a in m.items(params)]}  # type: ignore[attr-defined]
    else:
        body = _jsonable(params.model_dump())
    if MEASURES[measure].reads_indicators:
        body["indicators"] = IDENTIFYING if judged is None else {i.code: _entry_dict(i) for i in judged}
    return {"measure": measure, **body}


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def list_frameworks() -> list[str]:
    """Names of the built-in frameworks (``data/frameworks/*.yaml``)."""
    return sorted(p.stem for p in FRAMEWORKS_DIR.glob("*.yaml"))


def framework_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = FRAMEWORKS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    raise ConfigError(f"unknown framework {str(name_or_path)!r}; built-in frameworks: {', '.join(list_frameworks())}")


def list_plans() -> list[str]:
    """Names of the local outcome plans that ship with the product (``data/local_plans/*.yaml``):
    real councils' plans, to copy and adapt, or to use as they are."""
    return sorted(p.stem for p in LOCAL_PLANS_DIR.glob("*.yaml"))


def find_plan(name_or_path: str | Path) -> Path:
    """A plan file: the file named, or (a bare name such as ``devon-early-help-2020``) a plan that
    ships with the product. Neither is an error naming both."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p.resolve()
    candidate = LOCAL_PLANS_DIR / f"{name_or_path}.yaml"
    if p.suffix == "" and p.parent == Path(".") and candidate.is_file():
        return candidate
    raise ConfigError(f"no such plan file ({p.resolve()}); the plans that ship with tfclaims: {', '.join(list_plans())}")


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_bytes()
        data = safe_yaml(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except ValueError as exc:  # YAML reads 2016-13-01 as a date and fails on it
        raise ConfigError(f"{path}: cannot read: {exc} (a date that does not exist? write dates as YYYY-MM-DD)") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data, hashlib.sha256(raw).hexdigest()


def _reference_list(ref: Mapping[str, Any], where: str, file: Path) -> list[str]:
    extra = set(ref) - {"reference", "flag", "source", "tag"}
    if extra:
        raise ConfigError(f"{file}: {where}.{sorted(extra)[0]}: unknown key")
    ref_path = REFERENCE_DIR / f"{ref['reference']}.yaml"
    data, _ = _read_yaml(ref_path)
    codes = data.get("codes") or {}
    flag = ref.get("flag")
    if not flag:
        raise ConfigError(f"{file}: {where}.flag: required with reference")
    if not any(flag in (c or {}) for c in codes.values()):
        raise ConfigError(f"{file}: {where}.flag: {flag!r} is not a field of {ref_path.name}")
    return [code for code, attrs in codes.items() if (attrs or {}).get(flag) is True]


def _is_param(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= PARAM_KEYS


def _is_dated(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("values"), list)


def _same(path: str) -> str:
    return path


def _unwrap(
    node: Any, path: str, prov: dict[str, Provenance], file: Path, strict_numbers: bool, default_source: str, default_tag: str,
    show: Callable[[str], str] = _same,
) -> Any:
    """Replace ``{value, source, tag}`` parameters by their value, recording their provenance, and
    ``{values: [...], source, tag}`` parameters by a :class:`Dated` (resolved later, at a date).
    ``show`` spells a path as the file writes it (``overrides.`` + path for a plan's overrides)."""
    if _is_param(node) or _is_dated(node):
        tag = node.get("tag", default_tag)
        if tag not in TAGS:
            raise ConfigError(f"{file}: {show(path)}.tag: {tag!r} is not one of {', '.join(TAGS)}")
        source = node.get("source") or default_source
        if not source:
            raise ConfigError(f"{file}: {show(path)}.source: every parameter needs a source note")
        if _is_param(node):
            value = node["value"]
            prov[path] = Provenance(value, source, tag)
            return value
        entries = _dated_values(node, show(path), file)
        prov[path] = Provenance(entries[-1].value, source, tag, entries)
        return Dated(path, entries)
    if isinstance(node, dict) and "reference" in node:
        value = _reference_list(node, show(path), file)
        prov[path] = Provenance(value, node.get("source") or f"data/reference/{node['reference']}.yaml flag {node.get('flag')}", node.get("tag", default_tag))
        return value
    if isinstance(node, dict):
        if "values" in node and set(node) <= DATED_KEYS | {"value"}:
            raise ConfigError(f"{file}: {show(path)}.values: a list of {{value, from, to}} (dated values), got {node['values']!r}")
        return {k: _unwrap(v, f"{path}.{k}" if path else str(k), prov, file, strict_numbers, default_source, default_tag, show) for k, v in node.items()}
    if isinstance(node, list):
        return [_unwrap(v, f"{path}[{i}]", prov, file, strict_numbers, default_source, default_tag, show) for i, v in enumerate(node)]
    if strict_numbers and isinstance(node, int | float) and not isinstance(node, bool):
        raise ConfigError(f"{file}: {show(path)}: a bare number; write {{value: {node}, source: ..., tag: V|R|L|D}}")
    if strict_numbers and isinstance(node, dt.date):
        raise ConfigError(f"{file}: {show(path)}: a bare date; write {{value: {node}, source: ..., tag: V|R|L|D}}")
    if default_source and path and not isinstance(node, dict | list):
        prov[path] = Provenance(node, default_source, default_tag)
    return node


def _entry_date(value: Any, where: str, file: Path) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{file}: {where}: {value!r} is not a date (write YYYY-MM-DD)")


def _dated_values(node: dict[str, Any], shown: str, file: Path) -> tuple[DatedValue, ...]:
    """The values of a dated parameter, checked: each ``{value, from?, to?}`` (inclusive dates), in
    date order, the first without ``from``, the last without ``to``, each ``from`` the day after the
    previous ``to``: no overlap and no gap."""
    extra = sorted(set(node) - DATED_KEYS)
    if extra:
        more = " (write value or values, not both)" if extra[0] == "value" else " (a dated parameter has values, source, tag)"
        raise ConfigError(f"{file}: {shown}.{extra[0]}: unknown key{more}")
    raw = node["values"]
    if not raw:
        raise ConfigError(f"{file}: {shown}.values: no values (write at least one {{value: ...}})")
    entries: list[DatedValue] = []
    for i, e in enumerate(raw):
        at = f"{shown}.values[{i}]"
        if not isinstance(e, dict):
            raise ConfigError(f"{file}: {at}: expected {{value: ..., from: YYYY-MM-DD, to: YYYY-MM-DD}}, got {e!r}")
        bad = sorted(map(str, set(e) - ENTRY_KEYS))
        if bad:
            raise ConfigError(f"{file}: {at}.{bad[0]}: unknown key (a dated value has value, from, to)")
        if "value" not in e:
            raise ConfigError(f"{file}: {at}.value: required")
        if isinstance(e["value"], dict):
            raise ConfigError(f"{file}: {at}.value: a single value, not a mapping (the source goes beside values)")
        start, end = _entry_date(e.get("from"), f"{at}.from", file), _entry_date(e.get("to"), f"{at}.to", file)
        if start and end and end < start:
            raise ConfigError(f"{file}: {at}: to {end} is before from {start}")
        entries.append(DatedValue(e["value"], start, end))
    lo, hi = dt.date.min, dt.date.max
    for i in range(1, len(entries)):
        prev, cur = entries[i - 1], entries[i]
        if (cur.start or lo) < (prev.start or lo):
            raise ConfigError(
                f"{file}: {shown}.values[{i}]: not in date order: values[{i}] ({cur.when()}) comes before "
                f"values[{i - 1}] ({prev.when()}); list the values from the earliest"
            )
    for i in range(1, len(entries)):
        prev, cur = entries[i - 1], entries[i]
        p_end, c_start = prev.end or hi, cur.start or lo
        if c_start <= p_end:
            raise ConfigError(f"{file}: {shown}.values[{i}]: overlapping dates: values[{i - 1}] runs {prev.when()}, values[{i}] {cur.when()}")
        if c_start > p_end + dt.timedelta(days=1):
            gap_from, gap_to = p_end + dt.timedelta(days=1), c_start - dt.timedelta(days=1)
            raise ConfigError(
                f"{file}: {shown}.values[{i}]: a gap: no value from {gap_from} to {gap_to} "
                f"(values[{i}].from must be the day after values[{i - 1}].to, {gap_from})"
            )
    if entries[0].start is not None:
        raise ConfigError(f"{file}: {shown}.values[0].from: the first value applies from the start: remove its from date (no value before {entries[0].start})")
    if entries[-1].end is not None:
        n = len(entries) - 1
        raise ConfigError(f"{file}: {shown}.values[{n}].to: the last value applies onwards: remove its to date (no value after {entries[-1].end})")
    return tuple(entries)


def _collect_dated(node: Any, out: list[Dated]) -> None:
    if isinstance(node, Dated):
        out.append(node)
    elif isinstance(node, dict):
        for v in node.values():
            _collect_dated(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect_dated(v, out)


def _on_day(node: Any, day: dt.date, entry_of: dict[str, int]) -> Any:
    """The plain tree with every :class:`Dated` replaced by its value on ``day`` (``entry_of``:
    path -> the index of the value used)."""
    if isinstance(node, Dated):
        i = node.index_at(day)
        entry_of[node.path] = i
        return copy.deepcopy(node.entries[i].value)
    if isinstance(node, dict):
        return {k: _on_day(v, day, entry_of) for k, v in node.items()}
    if isinstance(node, list):
        return [_on_day(v, day, entry_of) for v in node]
    return node


@dataclass(frozen=True)
class _ErrorPaths:
    """How a validation error's path is spelt for the file that holds it: a plan's overrides
    (``overrides.``), its added indicators (``add_indicators.<h>.<i>``) and the value of a dated
    parameter in force (``.values[1].value``)."""

    plan: bool = False
    added: tuple[tuple[str, str], ...] = ()  # (resolved path, as written) of add_indicators entries
    entry_of: Mapping[str, int] = field(default_factory=dict)

    def show(self, path: str) -> str:
        """``path`` (a resolved path, e.g. ``headlines.crime_asb.success.window_months``) as the file writes it."""
        for p, i in self.entry_of.items():
            if path == p or path.startswith(p + ".") or path.startswith(p + "["):
                path = f"{p}.values[{i}].value{path[len(p):]}"
                break
        for resolved, written in self.added:
            if path == resolved or path.startswith(resolved + "."):
                return written + path[len(resolved):]
        return f"overrides.{path}" if self.plan else path

    def rename(self, loc: str) -> str:
        """A location as :func:`_errors` builds it (``overrides.`` + path in a plan) as the file writes it."""
        if not self.plan:
            return self.show(loc)
        return self.show(loc[len("overrides."):]) if loc.startswith("overrides.") else loc


_ERROR_PATHS: contextvars.ContextVar[_ErrorPaths | None] = contextvars.ContextVar("tfclaims_error_paths", default=None)


def _errors(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(top level)")
        paths = _ERROR_PATHS.get()
        if paths is not None:
            loc = paths.rename(loc)
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: str, file: Path) -> None:
    """Deep-merge a plan's overrides into the framework, refusing keys the framework does not have."""
    for key, value in over.items():
        here = f"{path}.{key}"
        if key not in base:
            raise ConfigError(f"{file}: {here}: unknown key (the framework has: {', '.join(map(str, base)) or 'nothing here'})")
        if isinstance(value, Dated) and isinstance(base[key], dict) and base[key]:
            raise ConfigError(f"{file}: {here}: dated values are for one parameter, not a section (it has: {', '.join(map(str, base[key]))})")
        if isinstance(value, dict) and isinstance(base[key], dict) and base[key]:
            _merge(base[key], value, here, file)
        else:
            base[key] = value


def _indicator_defaults(code: str) -> dict[str, Any]:
    """The default of every parameter of indicator ``code`` that has one (``codes`` of a local one has none)."""
    fields = CATALOGUE[code].params_model.model_fields
    return {k: f.get_default(call_default_factory=True) for k, f in fields.items() if not f.is_required()}


def load_framework(name_or_path: str | Path = DEFAULT_FRAMEWORK, plan: str | Path | None = None) -> Framework:
    """The resolved framework ``name_or_path`` (a built-in name or a file), with ``plan`` applied."""
    if plan is not None:
        return load_plan(plan, expected=None if name_or_path in (None, DEFAULT_FRAMEWORK) else str(name_or_path))
    path = framework_path(name_or_path)
    data, sha = _read_yaml(path)
    prov: dict[str, Provenance] = {}
    plain = _unwrap(data, "", prov, path, strict_numbers=True, default_source="", default_tag="V")
    fw = _build(plain, prov, path, sha, None)
    check_local_codes(fw, [(path, data)])
    return fw


OUTCOME_MODELS = {"ssp": "significant and sustained progress", "sfo": "a successful family outcome, judged after closure"}


def load_plan(plan_path: str | Path, expected: str | None = None) -> Framework:
    """A local outcome plan applied to the framework it ``extends``.

    Everything is checked before any data is read; a refusal names the plan file and the key path
    as the plan writes it (``overrides.headlines.crime_asb.success.window_months``,
    ``add_indicators.worklessness.rent_arrears``, ``...absence_threshold.values[1].value``)."""
    plan_path = find_plan(plan_path)
    raw, plan_sha = _read_yaml(plan_path)
    try:
        header = _PlanFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{plan_path}: {_errors(exc)}") from exc
    extends = Path(header.extends).stem if Path(header.extends).suffix in (".yaml", ".yml") else header.extends
    if expected is not None and Path(expected).stem != extends:
        raise ConfigError(f"{plan_path}: extends {header.extends!r} but framework {expected!r} was asked for")
    try:
        base_path = framework_path(header.extends)
    except ConfigError as exc:
        raise ConfigError(f"{plan_path}: extends: {exc}") from None
    base_raw, base_sha = _read_yaml(base_path)
    prov: dict[str, Provenance] = {}
    plain = _unwrap(base_raw, "", prov, base_path, strict_numbers=True, default_source="", default_tag="V")
    # make every indicator's full parameter set overridable, with its defaults visible
    for hcode, h in (plain.get("headlines") or {}).items():
        for icode, params in list((h.get("indicators") or {}).items()):
            kind = entry_kind(icode, params)
            if kind is not None:
                h["indicators"][icode] = {**_indicator_defaults(kind), **(params or {})}
        success = h.get("success") or {}
        m = MEASURES.get(success.get("measure", ""))
        if m is not None:
            h["success"] = {"measure": success["measure"], **m.plan_defaults(), **success}

    plan_name = header.name or plan_path.stem
    note = f"local plan {plan_name} v{header.version} (approved by {header.approved_by} on {header.approved_on})"
    plan_prov: dict[str, Provenance] = {}
    overrides = _unwrap(raw.get("overrides") or {}, "", plan_prov, plan_path, strict_numbers=False, default_source=note,
                        default_tag="L", show=lambda p: f"overrides.{p}")
    for key in ("name", "title", "version", "source", "outcome_model", "claim_routes"):
        if key in overrides:
            raise ConfigError(f"{plan_path}: overrides.{key}: a local plan cannot change the framework's {key}")
    stated: dict[str, str] = {}  # headline -> how the plan states its success rule: "measure" or "indicators"
    for hcode, h in (overrides.get("headlines") or {}).items():
        if hcode not in plain["headlines"]:
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}: unknown headline (the framework has: {', '.join(plain['headlines'])})")
        if not isinstance(h, dict):
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}: expected a mapping")
        for key in h:
            if key not in ("indicators", "success"):
                raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}.{key}: unknown key (indicators or success)")
        for icode in h.get("indicators") or {}:
            if icode not in plain["headlines"][hcode]["indicators"]:
                raise ConfigError(
                    f"{plan_path}: overrides.headlines.{hcode}.indicators.{icode}: not an indicator of {hcode} "
                    "(use add_indicators to add one from the catalogue)"
                )
        success = h.get("success")
        if success is None:
            continue
        if not isinstance(success, dict):
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}.success: expected a mapping")
        if "measure" in success:
            _choose_measure(plain, prov, hcode, success, plan_path, header.extends)
            stated[hcode] = "measure"
        if "indicators" in success:
            _success_indicators(plain, hcode, success, plan_path)
            stated.setdefault(hcode, "indicators")
    for key in overrides:
        if key not in plain and key != "allocation":
            raise ConfigError(f"{plan_path}: overrides.{key}: unknown key")
    plain.setdefault("allocation", None)
    # a plan's success.indicators replaces the framework's as a whole (entries are not merged)
    judged = {hcode: h["success"].pop("indicators") for hcode, h in (overrides.get("headlines") or {}).items()
              if isinstance(h.get("success"), dict) and "indicators" in h["success"]}
    for section, key, empty in (("eligibility", "exclude_when", {}), ("whole_family_working", "evidence_codes", [])):
        if isinstance(plain.get(section), dict):
            plain[section].setdefault(key, empty)  # settable by a plan though the framework file leaves them out
    _merge(plain, overrides, "overrides", plan_path)
    for hcode, entries in judged.items():
        plain["headlines"][hcode]["success"]["indicators"] = entries
        for k in [k for k in prov if k.startswith(f"headlines.{hcode}.success.indicators")]:
            del prov[k]
    for path, p in plan_prov.items():
        prov[path] = p

    def state_success(hcode: str, where: str, what: str) -> None:
        """Adding or removing an indicator changes the test of a measure that judges the headline's
        indicators: the plan must say so (a measure, or ``indicators: identifying``)."""
        m = MEASURES.get(plain["headlines"][hcode]["success"].get("measure", ""))
        if m is not None and m.reads_indicators and hcode not in stated:
            raise ConfigError(
                f"{plan_path}: {where}: {what} changes {hcode}'s success test; state it in "
                f"overrides.headlines.{hcode}.success (indicators: identifying, or a measure)"
            )

    for hcode, removals in header.remove_indicators.items():
        if hcode not in plain["headlines"]:
            raise ConfigError(f"{plan_path}: remove_indicators.{hcode}: unknown headline")
        for k, icode in enumerate(removals):
            if icode not in plain["headlines"][hcode]["indicators"]:
                raise ConfigError(
                    f"{plan_path}: remove_indicators.{hcode}[{k}]: {icode!r} is not an indicator of {hcode} "
                    f"({', '.join(plain['headlines'][hcode]['indicators']) or 'it has none'})"
                )
            state_success(hcode, f"remove_indicators.{hcode}[{k}]", f"removing an indicator ({icode})")
            del plain["headlines"][hcode]["indicators"][icode]
            for key in [key for key in prov if key.startswith(f"headlines.{hcode}.indicators.{icode}.")]:
                del prov[key]
            prov[f"headlines.{hcode}.indicators.{icode}"] = Provenance("removed", note, "L")
    added: list[tuple[str, str]] = []
    for hcode, adds in header.add_indicators.items():
        if hcode not in plain["headlines"]:
            raise ConfigError(f"{plan_path}: add_indicators.{hcode}: unknown headline")
        for icode, params in adds.items():
            if entry_kind(icode, params) is None:
                named = (params or {}).get("indicator")
                raise ConfigError(
                    f"{plan_path}: add_indicators.{hcode}.{icode}{'.indicator' if named is not None else ''}: "
                    f"{named or icode!r} is not in the catalogue ({', '.join(sorted(CATALOGUE))}); "
                    "a named entry says which with indicator: <code>"
                )
            if icode in plain["headlines"][hcode]["indicators"]:
                raise ConfigError(f"{plan_path}: add_indicators.{hcode}.{icode}: already an indicator of {hcode}")
            state_success(hcode, f"add_indicators.{hcode}.{icode}", "adding an indicator")
            resolved, written = f"headlines.{hcode}.indicators.{icode}", f"add_indicators.{hcode}.{icode}"
            ip = _unwrap(params or {}, resolved, prov, plan_path, False, note, "L",
                         show=lambda p, r=resolved, w=written: w + p[len(r):] if p.startswith(r) else p)
            plain["headlines"][hcode]["indicators"][icode] = ip
            added.append((resolved, written))
    for hcode, h in plain["headlines"].items():
        name = (h.get("success") or {}).get("measure", "")
        m = MEASURES.get(name) if isinstance(name, str) else None
        if m is None or not m.reads_indicators or h.get("indicators"):
            continue
        if stated.get(hcode) == "measure":
            raise ConfigError(
                f"{plan_path}: overrides.headlines.{hcode}.success.measure: {name} judges recurrence of {hcode}'s indicators, "
                f"and {hcode} has none; choose a measure that does not read indicators (e.g. needs_only)"
            )
        if hcode in header.remove_indicators:
            raise ConfigError(
                f"{plan_path}: remove_indicators.{hcode}: removes every indicator of {hcode}, whose measure {name} judges "
                f"recurrence of its indicators; choose another measure in overrides.headlines.{hcode}.success.measure"
            )
    info = PlanInfo(str(plan_path), plan_name, header.version, header.approved_by, header.approved_on, plan_sha, header.source)
    local_codes = _local_codes(header.local_codes, tuple(plain["headlines"]), plan_path)
    fw = _build(plain, prov, base_path, base_sha, info, plan_path, local_codes, tuple(added))
    for epoch in (fw.at_epoch(i) for i in range(len(fw.epochs()) + 1)):
        _check_measure_codes(epoch, local_codes, plan_path)
    check_local_codes(fw, [(plan_path, raw), (base_path, base_raw)])
    return fw


def _choose_measure(plain: dict[str, Any], prov: dict[str, Provenance], hcode: str, success: dict[str, Any], plan_path: Path, extends: str) -> None:
    """A plan's ``overrides.headlines.<h>.success.measure``: a registered measure that can apply
    under the framework's outcome model. A new measure's parameters start from its defaults (the
    framework's values, and their sources, were for the old measure); the plan's overrides follow."""
    shown = f"overrides.headlines.{hcode}.success.measure"
    name = success["measure"]
    if isinstance(name, Dated):
        raise ConfigError(f"{plan_path}: {shown}: a measure cannot have dated values (date its parameters instead)")
    if not isinstance(name, str) or name not in MEASURES:
        raise ConfigError(f"{plan_path}: {shown}: {name!r} is not a success measure ({', '.join(MEASURES)})")
    m = MEASURES[name]
    model = plain.get("outcome_model")
    if model not in m.outcome_models:
        allowed = " or ".join(f"{o} ({OUTCOME_MODELS.get(o, o)})" for o in m.outcome_models)
        raise ConfigError(
            f"{plan_path}: {shown}: {name} cannot apply here: it is a measure of {allowed}, "
            f"and {extends} judges {model} ({OUTCOME_MODELS.get(str(model), model)})"
        )
    base = plain["headlines"][hcode]["success"]
    if name == base.get("measure"):
        return
    fields = m.params_model.model_fields
    for key in success:
        if key not in ("measure", "indicators") and key not in fields:
            raise ConfigError(
                f"{plan_path}: overrides.headlines.{hcode}.success.{key}: unknown key "
                f"(measure {name} has {', '.join(fields) if fields else 'no parameters'})"
            )
    defaults = {k: v for k, v in m.plan_defaults().items() if k != "indicators"}  # a composite measure has none
    plain["headlines"][hcode]["success"] = {"measure": name, **defaults}
    for key in [key for key in prov if key.startswith(f"headlines.{hcode}.success.")]:
        del prov[key]


def _success_indicators(plain: dict[str, Any], hcode: str, success: dict[str, Any], plan_path: Path) -> None:
    """``overrides.headlines.<h>.success.indicators``: ``identifying`` states that the measure judges
    recurrence of the headline's identifying indicators as the plan leaves them (it is taken out
    here: no measure has such a parameter). Any other value is the measure's own parameter."""
    shown = f"overrides.headlines.{hcode}.success.indicators"
    name = plain["headlines"][hcode]["success"].get("measure", "")
    m = MEASURES.get(name) if isinstance(name, str) else None
    value = success["indicators"]
    if value == "identifying":
        if m is not None and not m.reads_indicators:
            raise ConfigError(f"{plan_path}: {shown}: measure {name} does not judge the headline's indicators, so 'identifying' cannot apply")
        del success["indicators"]
        return
    if isinstance(value, str) and (m is None or "indicators" not in m.params_model.model_fields):
        raise ConfigError(
            f"{plan_path}: {shown}: {value!r}: write identifying (judge recurrence of {hcode}'s identifying indicators) "
            "or choose a measure"
        )


def _undated(path: str) -> bool:
    return any(path == pat or path.startswith(pat + "[") or fnmatch.fnmatchcase(path, pat) for pat in UNDATED)


def _known_benefits() -> set[str]:
    return set(_read_yaml(REFERENCE_DIR / "benefits.yaml")[0]["codes"])


def _check_codes(tree: Mapping[str, Any], where: Path, paths: _ErrorPaths) -> None:
    """Every benefit code named (out-of-work list, continuous employment, an indicator's
    ``benefit_types``) is one of the reference list's, named by its path."""
    known: set[str] | None = None

    def check(codes: Any, path: str) -> None:
        nonlocal known
        if not isinstance(codes, list | tuple):
            return
        for i, c in enumerate(codes):
            if isinstance(c, str):
                known = known if known is not None else _known_benefits()
                if c not in known:
                    raise ConfigError(
                        f"{where}: {paths.show(f'{path}[{i}]')}: unknown benefit code {c!r} "
                        f"(data/reference/benefits.yaml has: {', '.join(sorted(known))})"
                    )

    check(tree.get("out_of_work_benefits"), "out_of_work_benefits")
    ce = tree.get("continuous_employment")
    if isinstance(ce, dict):
        check(ce.get("long_weeks_benefits"), "continuous_employment.long_weeks_benefits")
    for hcode, h in (tree.get("headlines") or {}).items():
        for icode, params in ((h or {}).get("indicators") or {}).items() if isinstance(h, dict) else ():
            if isinstance(params, dict):
                check(params.get("benefit_types"), f"headlines.{hcode}.indicators.{icode}.benefit_types")


def _check_measures(fw: Framework, where: Path, paths: _ErrorPaths) -> None:
    """Each headline's measure can apply under the framework's outcome model."""
    for hcode, spec in fw.headlines.items():
        m = MEASURES[spec.measure]
        if fw.outcome_model not in m.outcome_models:
            raise ConfigError(
                f"{where}: {paths.show(f'headlines.{hcode}.success.measure')}: {spec.measure} is a measure of the "
                f"{' or '.join(m.outcome_models)} outcome model, not {fw.outcome_model}"
            )


def _build(
    plain: dict[str, Any], prov: dict[str, Provenance], path: Path, sha: str, plan: PlanInfo | None, plan_path: Path | None = None,
    local_codes: tuple[LocalCode, ...] = (), added: tuple[tuple[str, str], ...] = (),
) -> Framework:
    """The resolved framework of a plain tree: one :func:`_resolve` per epoch of its dated
    parameters (one in all when there are none), so that every dated value is validated as a plain
    one would be; errors are named as the file writes them. Returns the latest epoch's framework."""
    where = plan_path or path
    base_paths = _ErrorPaths(plan=plan_path is not None, added=added)
    dated: list[Dated] = []
    _collect_dated(plain, dated)
    for d in dated:
        if _undated(d.path):
            raise ConfigError(f"{where}: {base_paths.show(d.path)}: cannot have dated values (it is not a parameter of the rules)")
    epochs = tuple(sorted({e.start for d in dated for e in d.entries if e.start is not None}))
    frameworks: list[Framework] = []
    for day in (dt.date.min, *epochs):
        entry_of: dict[str, int] = {}
        tree = _on_day(plain, day, entry_of) if dated else plain
        paths = dataclasses.replace(base_paths, entry_of=entry_of)
        _check_codes(tree, where, paths)
        token = _ERROR_PATHS.set(paths)
        try:
            fw = _resolve(tree, prov, path, sha, plan, plan_path)
        finally:
            _ERROR_PATHS.reset(token)
        if not frameworks:
            _check_measures(fw, where, paths)
        frameworks.append(fw)
    timeline = _Timeline(epochs, [])
    table = {d.path: d.entries for d in dated}
    timeline.frameworks.extend(dataclasses.replace(f, local_codes=local_codes, dated=table, _timeline=timeline) for f in frameworks)
    return timeline.frameworks[-1]


def _check_measure_codes(fw: Framework, local_codes: tuple[LocalCode, ...], plan_path: Path) -> None:
    """Every local code a success measure names is declared by the plan for its table (and, when
    the declaration lists headlines, for that headline)."""
    for hcode, spec in fw.headlines.items():
        for key, table, code in MEASURES[spec.measure].local_codes(spec.measure_params):
            where = f"{plan_path}: overrides.headlines.{hcode}.success.{key}"
            if is_factor_code(code):
                raise ConfigError(f"{where}: {code!r} is an assessment factor of the CIN census: {FACTOR_ONLY_IDENTIFIES}")
            declared = [c for c in local_codes if c.table == table and c.code.lower() == code.lower()]
            if not declared:
                listed = ", ".join(c.code for c in local_codes if c.table == table) or "none"
                raise ConfigError(f"{where}: {code!r} is not a {table} code the plan declares in local_codes (declared: {listed})")
            if declared[0].headlines and hcode not in declared[0].headlines:
                raise ConfigError(f"{where}: {code!r} is declared for {', '.join(declared[0].headlines)}, not {hcode}")


def _local_codes(entries: list[Any], headlines: tuple[str, ...], plan_path: Path) -> tuple[LocalCode, ...]:
    """The plan's ``local_codes``: each entry a known shape, a code once, a local table, headlines of the framework."""
    out: list[LocalCode] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"local_codes[{i}]"
        try:
            e = _LocalCodeFile.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{plan_path}: {_errors(exc, where)}") from exc
        if e.code.lower() in seen:  # ingest matches codes case-insensitively
            raise ConfigError(f"{plan_path}: {where}.code: {e.code!r} is already declared at local_codes[{seen[e.code.lower()]}]")
        if e.table not in LOCAL_TABLES:
            raise ConfigError(f"{plan_path}: {where}.table: {e.table!r} is not a local table ({', '.join(LOCAL_TABLES)})")
        for j, h in enumerate(e.headlines):
            if h not in headlines:
                raise ConfigError(f"{plan_path}: {where}.headlines[{j}]: {h!r} is not a headline of the framework ({', '.join(headlines)})")
        seen[e.code.lower()] = i
        out.append(LocalCode(e.code, e.description, e.table, tuple(e.headlines)))
    return tuple(out)


def _success(raw: Any, path: str, where: str, outcome_model: str, benefits: tuple[str, ...], identifying: tuple[IndicatorSpec, ...],
             nested: bool = False) -> Alternative:
    """A success section at key ``path``: its measure, the measure's parameters (checked by its
    model) and the indicator entries it judges (``indicators``: ``identifying``, the default, or
    entries as a headline's). ``nested``: an alternative of a composite measure."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {path}: expected a mapping with measure: <name>")
    success = dict(raw)
    measure = success.pop("measure", None)
    if measure not in MEASURES:
        raise ConfigError(f"{where}: {path}.measure: {measure!r} is not one of {', '.join(MEASURES)}")
    m = MEASURES[measure]
    if nested and m.composite:
        raise ConfigError(f"{where}: {path}.measure: {measure} cannot be an alternative (composite measures do not nest)")
    if nested and outcome_model not in m.outcome_models:
        raise ConfigError(f"{where}: {path}.measure: {measure} judges {'/'.join(m.outcome_models)} outcomes, not this framework's {outcome_model}")
    judged = success.pop("indicators", IDENTIFYING)
    entries: tuple[IndicatorSpec, ...] | None = None
    if judged is not None and judged != IDENTIFYING:
        if not m.reads_indicators:
            readers = ", ".join(n for n, x in MEASURES.items() if x.reads_indicators)
            raise ConfigError(f"{where}: {path}.indicators: {measure} judges no indicators (only {readers} do)")
        if not isinstance(judged, Mapping) or not judged:
            raise ConfigError(f"{where}: {path}.indicators: {IDENTIFYING!r} or indicator entries (name: parameters), as a headline's indicators")
        entries = indicator_specs(judged, where, f"{path}.indicators", benefits)

    def sub(section: Any, key: str) -> Alternative:
        return _success(section, f"{path}.{key}", where, outcome_model, benefits, identifying, nested=True)

    try:
        params = m.parse_params(success, sub)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_errors(exc, path)}") from exc
    if m.reads_indicators:
        specs = identifying if entries is None else entries
        if not specs:
            raise ConfigError(f"{where}: {path}.measure: measure {measure} needs at least one indicator to judge")
        for spec in specs:
            why = m.cannot_judge(spec)
            if why:
                raise ConfigError(f"{where}: {path + ('.measure' if entries is None else f'.indicators.{spec.code}')}: {why}")
    return Alternative(measure, params, entries)


def _resolve(plain: dict[str, Any], prov: dict[str, Provenance], path: Path, sha: str, plan: PlanInfo | None, plan_path: Path | None = None) -> Framework:
    where = plan_path or path
    try:
        f = _FrameworkFile.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_errors(exc, 'overrides' if plan_path else '')}") from exc
    known_benefits = set(_read_yaml(REFERENCE_DIR / "benefits.yaml")[0]["codes"])
    bad = [b for b in f.out_of_work_benefits if b not in known_benefits]
    if bad:
        raise ConfigError(f"{where}: out_of_work_benefits: unknown benefit code {bad[0]!r}")
    if "continuous_employment" in f.claim_routes and f.continuous_employment is None:
        raise ConfigError(f"{where}: continuous_employment: required by claim route continuous_employment")
    if f.outcome_model == "sfo" and f.sfo is None:
        raise ConfigError(f"{where}: sfo: required by outcome_model sfo")
    headlines: dict[str, HeadlineSpec] = {}
    for hcode, h in f.headlines.items():
        prefix = "overrides." if plan_path else ""
        specs = indicator_specs(h.indicators, str(where), f"{prefix}headlines.{hcode}.indicators", tuple(f.out_of_work_benefits))
        s = _success(h.success, f"{prefix}headlines.{hcode}.success", str(where), f.outcome_model, tuple(f.out_of_work_benefits), specs)
        headlines[hcode] = HeadlineSpec(hcode, h.label, specs, s.measure, s.params, s.indicators)
    xpath = ("overrides." if plan_path else "") + "eligibility.exclude_when"
    exclusions = indicator_specs(f.eligibility.exclude_when, str(where), xpath, tuple(f.out_of_work_benefits))
    return Framework(
        name=f.name,
        title=f.title,
        version=f.version,
        source=f.source,
        path=str(path),
        sha256=sha,
        outcome_model=f.outcome_model,
        programme=f.programme,
        out_of_work_benefits=tuple(f.out_of_work_benefits),
        eligibility=f.eligibility,
        required_headlines=f.required_headlines,
        claim_routes=tuple(f.claim_routes),
        continuous_employment=f.continuous_employment,
        sfo=f.sfo,
        whole_family_working=f.whole_family_working,
        amounts=f.amounts,
        allocation=f.allocation,
        headlines=headlines,
        plan=plan,
        provenance=dict(prov),
        eligibility_exclusions=exclusions,
    )


# --------------------------------------------------------------------------------------------
# local codes used by the rules: declared by the plan, for the right table and headline
# --------------------------------------------------------------------------------------------


def _find_key_path(node: Any, suffix: tuple[str, ...], within: str | None = None, path: tuple[str, ...] = ()) -> str | None:
    """The dotted path of the first key path in ``node`` ending with ``suffix`` (and, with ``within``,
    passing through a key of that name), or None."""
    if isinstance(node, list):  # a composite measure's parts: parts[1]
        for i, value in enumerate(node):
            found = _find_key_path(value, suffix, within, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",))
            if found is not None:
                return found
        return None
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        here = (*path, str(key))
        if here[-len(suffix):] == suffix and (within is None or within in (k.split("[")[0] for k in here[:-len(suffix)])):
            return ".".join(here)
        found = _find_key_path(value, suffix, within, here)
        if found is not None:
            return found
    return None


def _local_code_uses(fw: Framework) -> Iterable[tuple[IndicatorSpec | None, tuple[str, ...], str, str | None, tuple[str, ...], str | None]]:
    """Every use of local codes by the rules: (entry, codes, table, headline or None, key suffix, within)."""
    for hcode, spec in fw.headlines.items():
        extra = MEASURES[spec.measure].judged_entries(spec)  # success-specific entries (of every part of a composite measure too)
        for ind in dict.fromkeys((*spec.indicators, *extra)):
            table = LOCAL_INDICATOR_TABLES.get(ind.kind)
            if table is not None:
                yield ind, tuple(getattr(ind.params, "codes", ())), table, hcode, (ind.code, "codes"), hcode
    for ind in fw.eligibility_exclusions:
        table = LOCAL_INDICATOR_TABLES.get(ind.kind)
        if table is not None:
            yield ind, tuple(getattr(ind.params, "codes", ())), table, None, ("exclude_when", ind.code, "codes"), None
    if fw.whole_family_working.evidence_codes:
        yield None, fw.whole_family_working.evidence_codes, "local_events", None, ("whole_family_working", "evidence_codes"), None


def check_local_codes(fw: Framework, sources: Sequence[tuple[Path, Mapping[str, Any]]]) -> None:
    """Refuse a local code the rules use that the plan does not declare for that table (or, where
    the declaration lists ``headlines``, not for the headline using it); a local indicator in a
    framework without a plan is refused too. ``sources`` are the files (plan first, then framework)
    with their raw contents, searched for the key path named in the error.

    Covers every headline's ``indicators`` and success-specific indicators, the eligibility
    exclusions and whole-family working's ``evidence_codes``. Codes are matched without regard to
    case, as ingest matches the rows' codes."""
    epochs = fw._timeline.frameworks if fw._timeline is not None else []
    for f in [fw, *(e for e in epochs if e is not fw)]:  # and the rules of every epoch of dated values
        _check_local_codes(f, sources)


# Why an assessment factor may not be judged for success (a plan naming one there is refused).
FACTOR_ONLY_IDENTIFIES = ("a factor says a concern was recorded at an assessment, and the absence of a later one says nothing, "
                          "so it may identify a headline but never show success; judge success on another source "
                          "(success.indicators naming entries that do not read assessment factors)")


def _check_local_codes(fw: Framework, sources: Sequence[tuple[Path, Mapping[str, Any]]]) -> None:
    for entry, codes, table, hcode, suffix, within in _local_code_uses(fw):
        judged = hcode is not None and entry in MEASURES[fw.headlines[hcode].measure].judged_entries(fw.headlines[hcode])
        file, path = sources[0][0], None
        for f, raw in sources:
            path = _find_key_path(raw, suffix, within)
            if path is not None:
                file = f
                break
        if path is None:  # not written in either file (cannot happen for codes, which have no default)
            path = ".".join((f"headlines.{hcode}.indicators", *suffix) if hcode else suffix)
        declared = [c for c in fw.local_codes if c.table == table]
        for j, code in enumerate(codes):
            where = f"{file}: {path}[{j}]: {code!r}"
            if judged and is_factor_code(code):
                raise ConfigError(f"{where}: the success of headline {hcode} would be judged on entry {entry.code}, "
                                  f"which reads an assessment factor of the CIN census: {FACTOR_ONLY_IDENTIFIES}")
            if fw.plan is None:
                what = f"indicator {entry.kind}" if entry is not None else "whole_family_working.evidence_codes"
                raise ConfigError(f"{where}: {what} reads local codes, which only a local plan declares (local_codes); "
                                  "use it in a local plan that declares the code")
            match = next((c for c in declared if c.code.lower() == code.lower()), None)
            if match is None:
                other = next((c for c in fw.local_codes if c.code.lower() == code.lower()), None)
                also = f"; {other.code} is a code of {other.table}" if other is not None else ""
                raise ConfigError(f"{where} is not a local code of {table} declared by the plan "
                                  f"(declared: {', '.join(c.code for c in declared) or 'none'}){also}")
            if hcode is not None and match.headlines and hcode not in match.headlines:
                raise ConfigError(f"{where}: the plan declares {match.code} for headlines {', '.join(match.headlines)} only "
                                  f"(local_codes), not {hcode}")
