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
key's path (``overrides.headlines.education.indicators.school_absence.treshold``).

:func:`load_framework` returns a resolved, immutable :class:`Framework`; a run records its
``name``, ``version`` and file ``sha256`` (and the plan's) through :meth:`Framework.audit_record`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tfclaims.core.config import DEFAULT_FRAMEWORK
from tfclaims.core.errors import ConfigError
from tfclaims.core.local_codes import DeclaredCodes
from tfclaims.schemas.inputs import LOCAL_TABLES
import pandas as pd

from tfclaims.rules.indicators import CATALOGUE, LOCAL_INDICATOR_TABLES, BenefitParams, Indicator, Params, Scope, name_indicator
from tfclaims.rules.measures import MEASURE_REGISTRY as MEASURES
from tfclaims.core.resources import FRAMEWORKS_DIR, REFERENCE_DIR

TAGS = ("V", "R", "L", "D")
PARAM_KEYS = {"value", "source", "tag"}


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
class Provenance:
    value: Any
    source: str
    tag: str


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


ENTRY_KEYS = ("indicator", "label")  # the keys of an indicator entry that are not parameters


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
    code: str
    label: str
    indicators: tuple[IndicatorSpec, ...]
    measure: str
    measure_params: Params

    def indicator_tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for i in self.indicators for t in i.tables))

    def measure_tables(self) -> tuple[str, ...]:
        """Tables the success measure reads (needs always; the headline's indicators where used)."""
        return MEASURES[self.measure].tables(self.measure_params, self.indicator_tables())


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
                    "indicators": {i.code: {**({"indicator": i.kind} if i.kind != i.code else {}), **_jsonable(i.params.model_dump())} for i in h.indicators},
                    "success": {"measure": h.measure, **_jsonable(h.measure_params.model_dump())},
                }
                for code, h in self.headlines.items()
            },
        }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


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


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
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


def _unwrap(node: Any, path: str, prov: dict[str, Provenance], file: Path, strict_numbers: bool, default_source: str, default_tag: str) -> Any:
    """Replace ``{value, source, tag}`` parameters by their value, recording their provenance."""
    if _is_param(node):
        tag = node.get("tag", default_tag)
        if tag not in TAGS:
            raise ConfigError(f"{file}: {path}.tag: {tag!r} is not one of {', '.join(TAGS)}")
        source = node.get("source") or default_source
        if not source:
            raise ConfigError(f"{file}: {path}.source: every parameter needs a source note")
        value = node["value"]
        prov[path] = Provenance(value, source, tag)
        return value
    if isinstance(node, dict) and "reference" in node:
        value = _reference_list(node, path, file)
        prov[path] = Provenance(value, node.get("source") or f"data/reference/{node['reference']}.yaml flag {node.get('flag')}", node.get("tag", default_tag))
        return value
    if isinstance(node, dict):
        return {k: _unwrap(v, f"{path}.{k}" if path else str(k), prov, file, strict_numbers, default_source, default_tag) for k, v in node.items()}
    if isinstance(node, list):
        return [_unwrap(v, f"{path}[{i}]", prov, file, strict_numbers, default_source, default_tag) for i, v in enumerate(node)]
    if strict_numbers and isinstance(node, int | float) and not isinstance(node, bool):
        raise ConfigError(f"{file}: {path}: a bare number; write {{value: {node}, source: ..., tag: V|R|L|D}}")
    if strict_numbers and isinstance(node, dt.date):
        raise ConfigError(f"{file}: {path}: a bare date; write {{value: {node}, source: ..., tag: V|R|L|D}}")
    if default_source and path and not isinstance(node, dict | list):
        prov[path] = Provenance(node, default_source, default_tag)
    return node


def _errors(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(top level)")
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: str, file: Path) -> None:
    """Deep-merge a plan's overrides into the framework, refusing keys the framework does not have."""
    for key, value in over.items():
        here = f"{path}.{key}"
        if key not in base:
            raise ConfigError(f"{file}: {here}: unknown key (the framework has: {', '.join(map(str, base)) or 'nothing here'})")
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
    fw = _resolve(plain, prov, path, sha, None)
    check_local_codes(fw, [(path, data)])
    return fw


def load_plan(plan_path: str | Path, expected: str | None = None) -> Framework:
    """A local outcome plan applied to the framework it ``extends``."""
    plan_path = Path(plan_path)
    raw, plan_sha = _read_yaml(plan_path)
    try:
        header = _PlanFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{plan_path}: {_errors(exc)}") from exc
    if expected is not None and Path(expected).stem != header.extends:
        raise ConfigError(f"{plan_path}: extends {header.extends!r} but framework {expected!r} was asked for")
    base_path = framework_path(header.extends)
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
            h["success"] = {"measure": success["measure"], **m.params_model().model_dump(), **success}

    plan_name = header.name or plan_path.stem
    note = f"local plan {plan_name} v{header.version} (approved by {header.approved_by} on {header.approved_on})"
    plan_prov: dict[str, Provenance] = {}
    overrides = _unwrap(raw.get("overrides") or {}, "", plan_prov, plan_path, strict_numbers=False, default_source=note, default_tag="L")
    for key in ("name", "title", "version", "source", "outcome_model", "claim_routes"):
        if key in overrides:
            raise ConfigError(f"{plan_path}: overrides.{key}: a local plan cannot change the framework's {key}")
    for hcode, h in (overrides.get("headlines") or {}).items():
        if hcode not in plain["headlines"]:
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}: unknown headline (the framework has: {', '.join(plain['headlines'])})")
        if not isinstance(h, dict):
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}: expected a mapping")
        for key in h:
            if key not in ("indicators", "success"):
                raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}.{key}: unknown key (indicators or success)")
        if "measure" in (h.get("success") or {}):
            raise ConfigError(f"{plan_path}: overrides.headlines.{hcode}.success.measure: a plan changes parameters, not the measure")
        for icode in h.get("indicators") or {}:
            if icode not in plain["headlines"][hcode]["indicators"]:
                raise ConfigError(
                    f"{plan_path}: overrides.headlines.{hcode}.indicators.{icode}: not an indicator of {hcode} "
                    "(use add_indicators to add one from the catalogue)"
                )
    for key in overrides:
        if key not in plain and key != "allocation":
            raise ConfigError(f"{plan_path}: overrides.{key}: unknown key")
    plain.setdefault("allocation", None)
    for section, key, empty in (("eligibility", "exclude_when", {}), ("whole_family_working", "evidence_codes", [])):
        if isinstance(plain.get(section), dict):
            plain[section].setdefault(key, empty)  # settable by a plan though the framework file leaves them out
    _merge(plain, overrides, "overrides", plan_path)
    for path, p in plan_prov.items():
        prov[path] = p

    for hcode, removals in header.remove_indicators.items():
        if hcode not in plain["headlines"]:
            raise ConfigError(f"{plan_path}: remove_indicators.{hcode}: unknown headline")
        for icode in removals:
            if icode not in plain["headlines"][hcode]["indicators"]:
                raise ConfigError(f"{plan_path}: remove_indicators.{hcode}: {icode!r} is not an indicator of {hcode}")
            del plain["headlines"][hcode]["indicators"][icode]
            for k in [k for k in prov if k.startswith(f"headlines.{hcode}.indicators.{icode}.")]:
                del prov[k]
            prov[f"headlines.{hcode}.indicators.{icode}"] = Provenance("removed", note, "L")
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
            ip = _unwrap(params or {}, f"headlines.{hcode}.indicators.{icode}", prov, plan_path, False, note, "L")
            plain["headlines"][hcode]["indicators"][icode] = ip
    info = PlanInfo(str(plan_path), plan_name, header.version, header.approved_by, header.approved_on, plan_sha, header.source)
    local_codes = _local_codes(header.local_codes, tuple(plain["headlines"]), plan_path)
    fw = dataclasses.replace(_resolve(plain, prov, base_path, base_sha, info, plan_path), local_codes=local_codes)
    check_local_codes(fw, [(plan_path, raw), (base_path, base_raw)])
    return fw


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
        ipath = ("overrides." if plan_path else "") + f"headlines.{hcode}.indicators"
        specs = list(indicator_specs(h.indicators, str(where), ipath, tuple(f.out_of_work_benefits)))
        success = dict(h.success)
        measure = success.pop("measure", None)
        if measure not in MEASURES:
            raise ConfigError(f"{where}: headlines.{hcode}.success.measure: {measure!r} is not one of {', '.join(MEASURES)}")
        try:
            mp = MEASURES[measure].params_model.model_validate(success)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_errors(exc, ('overrides.' if plan_path else '') + f'headlines.{hcode}.success')}") from exc
        if MEASURES[measure].reads_indicators and not specs:
            raise ConfigError(f"{where}: headlines.{hcode}: measure {measure} needs at least one indicator")
        headlines[hcode] = HeadlineSpec(hcode, h.label, tuple(specs), measure, mp)
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
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        here = (*path, str(key))
        if here[-len(suffix):] == suffix and (within is None or within in here[:-len(suffix)]):
            return ".".join(here)
        found = _find_key_path(value, suffix, within, here)
        if found is not None:
            return found
    return None


def _local_code_uses(fw: Framework) -> Iterable[tuple[IndicatorSpec | None, tuple[str, ...], str, str | None, tuple[str, ...], str | None]]:
    """Every use of local codes by the rules: (entry, codes, table, headline or None, key suffix, within)."""
    for hcode, spec in fw.headlines.items():
        extra = getattr(spec, "success_indicators", None) or ()  # a headline's success-specific indicators, if any
        extra = tuple(extra.values()) if isinstance(extra, Mapping) else tuple(extra)
        for ind in (*spec.indicators, *extra):
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
    for entry, codes, table, hcode, suffix, within in _local_code_uses(fw):
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
