"""The options of every command: one pydantic model per command.

Each model is the whole of what its command needs. The command line builds it once from what
the user typed (``Model.of``), which checks every argument before anything is read or written:
ranges, whole numbers, dates, a window start after the period end, a period end outside the
framework's programme, a plan for another framework, an ``--out`` that is a file, an ``--input``
that cannot be a cohort, a missing reference key. The same object is then passed whole to the
Prefect flow and to the plain-Python pipeline (``tfclaims.pipeline``), so no parameter list is
written twice.

Fields that the user sets carry their option name as the alias (``--sample-rate``): every error
names the option as typed, with the value as typed. Defaults that depend on the workspace (the
run folder, the ledger, the audit trail, the council config) are resolved here, to absolute paths.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from tfclaims.core import run_files
from tfclaims.audit.trail import new_run_id
from tfclaims.core.config import DEMO_REFERENCE_KEY, CouncilConfig, load_config
from tfclaims.core.errors import ConfigError, InputError
from tfclaims.core.local_codes import NO_CODES, DeclaredCodes
from tfclaims.core.operator import operator_name
from tfclaims.core.redact import display_target
from tfclaims.core.workspace import AUDIT_FILE, Workspace, require_workspace
from tfclaims.ingest.readers import table_name
from tfclaims.spot_check import check_workbook_not_started
from tfclaims.rules.frameworks import Framework, find_plan, load_framework, load_plan

__all__ = [
    "CommandOptions", "CohortOptions", "ValidateOptions", "IdentifyOptions", "TrackOptions", "ClaimOptions", "RunOptions",
    "DemoOptions", "SpotCheckOptions", "ReconcileOptions", "ForecastOptions", "ComparePlansOptions", "cli_fields", "is_url",
]


def option(alias: str, help: str, *, metavar: str | None = None, default: Any = None, required: bool = False,
           shown_default: str | None = None, **constraints: Any) -> Any:
    """A field the user sets with ``alias`` on the command line; ``help`` is its help text."""
    extra = {"metavar": metavar, "shown_default": shown_default}
    if required:
        return Field(..., alias=alias, description=help, json_schema_extra=extra, **constraints)
    return Field(default, alias=alias, description=help, json_schema_extra=extra, **constraints)


def cli_fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """(field name, field info) of the fields the user sets: the command's own first, then those it shares."""
    order: list[str] = []
    for klass in model.__mro__:
        for name in getattr(klass, "__annotations__", {}):
            if name in model.model_fields and name not in order:
                order.append(name)
    fields = [(name, model.model_fields[name]) for name in order]
    return [(name, f) for name, f in fields if f.alias and f.alias.startswith("--")]


def is_url(target: str) -> bool:
    return "://" in target


_FRIENDLY = {
    "missing": lambda e: "is required",
    "float_parsing": lambda e: "must be a number",
    "float_type": lambda e: "must be a number",
    "int_parsing": lambda e: "must be a whole number",
    "int_from_float": lambda e: "must be a whole number",
    "int_type": lambda e: "must be a whole number",
    "greater_than": lambda e: f"must be more than {e['ctx']['gt']}",
    "greater_than_equal": lambda e: f"must be {e['ctx']['ge']} or more",
    "less_than_equal": lambda e: f"must be at most {e['ctx']['le']}",
    "less_than": lambda e: f"must be less than {e['ctx']['lt']}",
    "date_parsing": lambda e: "give a date as YYYY-MM-DD",
    "date_from_datetime_parsing": lambda e: "give a date as YYYY-MM-DD",
    "date_from_datetime_inexact": lambda e: "give a date as YYYY-MM-DD",
    "date_type": lambda e: "give a date as YYYY-MM-DD",
    "bool_parsing": lambda e: "must be true or false",
}


def _message(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "options"
    text = _FRIENDLY.get(err["type"], lambda e: str(e["msg"]).removeprefix("Value error, "))(err)
    value = err.get("input")
    shown = "" if err["type"] == "missing" or isinstance(value, dict) or value is None else f" {str(value)!r}"
    return f"{where}{shown}: {text}"


class _Options(BaseModel):
    """Options built from a command line: ``of`` checks them at the boundary."""

    @classmethod
    def of(cls, **values: Any) -> Self:
        """Build and check the options from option names (``--sample-rate``) or field names; every
        problem becomes one ``InputError`` (exit 2) naming each option as typed."""
        given = {k: v for k, v in values.items() if v is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise InputError("; ".join(_message(e) for e in exc.errors())) from None


class CommandOptions(_Options):
    """What every command has: its run id, who runs it, the audit trail and the council config."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)
    command: ClassVar[str] = ""

    run_id: str = Field(default_factory=new_run_id)
    config: Path | None = option("--config", "The council config file (YAML or JSON): column aliases, allocation, spot-check rate, ...",
                                 metavar="FILE", shown_default="council.yaml in the workspace, if there")
    audit: Path | None = option("--audit", "The audit trail file.", metavar="FILE",
                                shown_default="audit.jsonl beside the ledger, or in the workspace")
    operator: str | None = option("--operator", "Who runs this, as recorded in the audit trail and the ledger.", metavar="NAME",
                                  shown_default="your user name")
    # The council config as loaded (never serialised: it may hold the reference key).
    council: CouncilConfig | None = Field(None, exclude=True, repr=False)

    check_config = field_validator("config", mode="after")(lambda cls, v: _existing_file(v))

    @field_validator("audit", mode="after")
    @classmethod
    def check_audit(cls, v: Path | None) -> Path | None:
        v = None if v is None else Path(v).expanduser().resolve()
        if v is not None and v.is_dir():
            raise ValueError(f"{v} is a folder; give the audit trail file (e.g. {v / AUDIT_FILE})")
        return v

    @model_validator(mode="after")
    def resolve_defaults(self) -> CommandOptions:
        """Resolve what the user left out; each command's class adds its own in ``_resolve``."""
        self._resolve()
        return self

    def _resolve(self) -> None:
        self.operator = (self.operator if self.operator is not None else operator_name()).strip()
        if not self.operator:
            raise InputError("--operator: give the name of the person running this")
        self._load_council()

    def _load_council(self) -> CouncilConfig:
        if self.council is None:
            self.council = load_config(self.config if self.config is not None else self._workspace().council_config)
        return self.council

    def _default_ledger(self) -> str:
        """The ledger of a command given no ``--ledger``: the council config's, else the workspace's."""
        named = self._load_council().ledger
        return (_ledger_target(named) or named) if named else str(self._workspace().ledger)

    def _workspace(self) -> Workspace:
        return require_workspace()

    def params(self) -> dict[str, Any]:
        """The options as recorded in the audit trail and the run summary: paths and switches, no secret."""
        params = {k: v for k, v in self.model_dump(mode="json", exclude={"run_id", "council", "operator"}).items() if v is not None}
        if isinstance(params.get("ledger"), str):
            params["ledger"] = display_target(params["ledger"])  # a database URL without its password
        return params


def _plan_file(v: Path | None) -> Path | None:
    """A plan file the user named (absolute), or the name of a plan that ships with tfclaims."""
    if v is None:
        return None
    try:
        return find_plan(v)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _existing_file(v: Path | None) -> Path | None:
    """An input file the user named, absolute; a missing one is an error naming it."""
    if v is None:
        return None
    path = Path(v).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"no such file ({path})")
    return path


def _out_folder(v: Path | None) -> Path | None:
    if v is None:
        return None
    path = Path(v).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file; give a folder for the outputs")
    return path


def _new_run_folder(v: Path | None) -> Path | None:
    """An output folder for a new run: never one that already holds a run's outputs (nothing is replaced)."""
    path = _out_folder(v)
    if path is not None and path.is_dir():
        held = sorted(name for name in run_files.RUN_OUTPUTS if (path / name).exists())
        if held:
            raise ValueError(f"{path} already holds the outputs of a run ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); "
                             "nothing is replaced: give a new folder, or leave --out out for a new run folder in the workspace")
    return path


def _run_id_in(folder: Path) -> str | None:
    """The run id of the run whose summary a folder holds (None: none, or unreadable)."""
    import json

    try:
        return str(json.loads((folder / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8")).get("run_id"))
    except (OSError, ValueError, AttributeError):
        return None


def _ledger_target(v: str | None) -> str | None:
    """A ledger URL as given; a ledger file as an absolute path (so two ledgers never look alike)."""
    if v is None or is_url(v):
        return v
    from tfclaims.claim.ledger import resolve_target  # the ledger module (SQLAlchemy) only when a ledger is named

    path = Path(resolve_target(v))
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the ledger file (e.g. {path / 'ledger.sqlite'})")
    return str(path)


class CohortOptions(CommandOptions):
    """A command that reads a cohort."""

    input: Path = option("--input", "The cohort: a folder of .csv/.xlsx files, one .xlsx (or .xlsm) workbook, or a people.csv on its own.",
                         metavar="PATH", required=True)
    out: Path | None = option("--out", "Folder for this run's outputs.", metavar="DIR", shown_default="reports/<run id> in the workspace")
    strict: bool = option("--strict", "Fail (exit 2) if any row is quarantined.", default=False)
    link_decisions: Path | None = option("--link-decisions", "Clerical link decisions (CSV: table, file, sheet, row, person_id).",
                                         metavar="FILE")

    @field_validator("input", mode="after")
    @classmethod
    def check_input(cls, v: Path) -> Path:
        path = Path(v).expanduser().resolve()
        if not path.exists():
            raise ValueError(f"no such file or folder ({path})")
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix == ".csv" and table_name(path.stem) != "people":
                raise ValueError("a single CSV file is a cohort only when it is people.csv (every other table is read beside people); "
                                 "give the folder that holds the cohort's files")
            if suffix not in (".csv", ".xlsx", ".xlsm"):
                raise ValueError("give a folder of .csv/.xlsx files, one .xlsx (or .xlsm) workbook, or people.csv")
        return path

    check_link_decisions = field_validator("link_decisions", mode="after")(lambda cls, v: _existing_file(v))

    check_out = field_validator("out", mode="after")(lambda cls, v: _new_run_folder(v))

    def _resolve(self) -> None:
        super()._resolve()
        if self.out is None:
            self.out = self._workspace().run_dir(self.run_id)
        if self.audit is None:
            self.audit = self._default_audit()

    def _default_audit(self) -> Path:
        return self._workspace().audit

    def declared_local_codes(self) -> DeclaredCodes:
        """The local codes the local tables are validated against (a command without a plan: none)."""
        return NO_CODES


class ValidateOptions(CohortOptions):
    """``tfclaims validate``: the local tables are checked against the plan's ``local_codes`` (the one a run would use)."""

    command: ClassVar[str] = "validate"

    plan: Path | None = option("--plan", "A local outcome plan file: the local tables' codes are checked against its local_codes.",
                               metavar="FILE", shown_default="the council config's plan, if any")

    check_plan = field_validator("plan", mode="after")(lambda cls, v: _plan_file(v))

    def _resolve(self) -> None:
        super()._resolve()
        assert self.council is not None
        if self.plan is None and self.council.plan is not None:
            self.plan = find_plan(self.council.plan)
        self.declared_local_codes()  # a plan that cannot be used is an error now, before any data is read

    def declared_local_codes(self) -> DeclaredCodes:
        if self.plan is None:
            return NO_CODES
        try:
            return load_plan(self.plan).declared_local_codes()
        except ConfigError as exc:
            if str(exc).startswith(f"{self.plan}:"):
                raise  # names the plan file and the key path already
            raise ConfigError(f"--plan {self.plan}: {exc}") from None


class RulesOptions(CohortOptions):
    """A command that applies an outcome framework (and perhaps a local plan)."""

    framework: str | None = option("--framework", "Outcome framework: a built-in name (see `tfclaims frameworks list`) or a framework file.",
                                   metavar="NAME", shown_default="the council config's framework, else tf-phase2")
    plan: Path | None = option("--plan", "A local outcome plan file that extends the framework.", metavar="FILE",
                               shown_default="the council config's plan, if any")
    _framework_asked: bool = PrivateAttr(False)

    check_plan = field_validator("plan", mode="after")(lambda cls, v: _plan_file(v))

    def _resolve(self) -> None:
        super()._resolve()
        assert self.council is not None
        self._framework_asked = self.framework is not None or "framework" in self.council.model_fields_set
        if self.framework is None:
            self.framework = self.council.framework
        if self.plan is None and self.council.plan is not None:
            self.plan = find_plan(self.council.plan)
        fw = self.load_framework()  # a framework or plan that cannot be used is an error now, before any work
        self.framework = fw.name  # a plan alone names its framework (the one it extends)

    def load_framework(self) -> Framework:
        """The framework in force; a plan must extend the framework asked for (``--framework`` or the council config)."""
        try:
            if self.plan is not None:
                return load_plan(self.plan, expected=self.framework if self._framework_asked else None)
            return load_framework(self.framework)
        except ConfigError as exc:
            if self.plan is not None and str(exc).startswith(f"{self.plan}:"):
                raise  # a refusal of the plan names its file and the key path already
            given = f"--framework {self.framework}" + (f" --plan {self.plan}" if self.plan else "")
            raise ConfigError(f"{given}: {exc}") from None

    def declared_local_codes(self) -> DeclaredCodes:
        return self.load_framework().declared_local_codes()


class IdentifyOptions(RulesOptions):
    """``tfclaims identify``."""

    command: ClassVar[str] = "identify"
    as_of: dt.date = option("--as-of", "The date of the judgement.", metavar="DATE", required=True)


class TrackOptions(RulesOptions):
    """``tfclaims track``."""

    command: ClassVar[str] = "track"
    as_of: dt.date = option("--as-of", "The date of the judgement.", metavar="DATE", required=True)


class ClaimOptions(RulesOptions):
    """``tfclaims claim``."""

    command: ClassVar[str] = "claim"
    period_end: dt.date = option("--period-end", "The claim window's period end.", metavar="DATE", required=True)
    ledger: str | None = option("--ledger", "The claims ledger: a SQLite file or a postgresql:// URL.", metavar="FILE|URL",
                                shown_default="reports/ledger.sqlite in the workspace")
    allocation: int | None = option("--allocation", "How many families the council may claim for in all; claims beyond it are not made.",
                                    metavar="N", shown_default="the council config's, else the framework's", ge=0)
    dry_run: bool = option("--dry-run", "Write the decisions and files; record nothing in the ledger.", default=False)
    once: bool = option("--once", "If the ledger already holds this council's finished claim run for the framework and period end, "
                        "return that run instead of running again (how a consortium run resumes).", default=False)
    window_start: dt.date | None = option(
        "--window-start", "The claim window opens the day after this date (for the attachments counted in the finance summary).",
        metavar="DATE", shown_default="the last claim run's period end")
    demo_key: bool = Field(False, exclude=True)  # the labelled demo reference key (the demo only)

    check_ledger = field_validator("ledger", mode="after")(lambda cls, v: _ledger_target(v))
    check_out = field_validator("out", mode="after")(lambda cls, v: _out_folder(v))  # checked in _resolve, knowing --once

    def _resolve(self) -> None:
        if self.out is not None and not (self.once and _run_id_in(self.out) == self.run_id):  # a re-executed run: its own folder
            try:
                _new_run_folder(self.out)
            except ValueError as exc:
                raise InputError(f"--out '{self.out}': {exc}") from None
        if self.ledger is None:
            self.ledger = self._default_ledger()
        super()._resolve()
        fw = self.load_framework().at(self.period_end)  # the programme dates in force at the period end
        first, last = fw.programme.attachments_from, fw.programme.period_end_to
        if not first <= self.period_end <= last:
            raise InputError(f"--period-end {self.period_end.isoformat()}: outside the programme of {fw.name}, "
                             f"whose claim period ends run from {first.isoformat()} to {last.isoformat()}")
        if self.window_start is not None and self.window_start >= self.period_end:
            raise InputError(f"--window-start {self.window_start.isoformat()}: on or after --period-end {self.period_end.isoformat()}; "
                             "the claim window opens the day after --window-start and closes on --period-end")
        self.reference_key  # refuse now, before any work, without a key
    def _default_audit(self) -> Path:
        if self.ledger is not None and not is_url(self.ledger):
            return Path(self.ledger).parent / AUDIT_FILE
        return self._workspace().audit

    @property
    def reference_key(self) -> str:
        """The council's secret behind the pseudonymous family references (the demo's labelled key for the demo)."""
        if self.demo_key:
            return DEMO_REFERENCE_KEY
        assert self.council is not None
        return self.council.required_reference_key()


def _check_as_of_in_programme(fw: Framework, as_of: dt.date) -> None:
    """A look-ahead starts on a day a claim run could take as its period end."""
    p = fw.at(as_of).programme
    if not p.attachments_from <= as_of <= p.period_end_to:
        raise InputError(f"--as-of {as_of.isoformat()}: outside the programme of {fw.name}, whose claim period ends run from "
                         f"{p.attachments_from.isoformat()} to {p.period_end_to.isoformat()}")


class ForecastOptions(RulesOptions):
    """``tfclaims forecast``: reads the cohort and the ledger, claims nothing, records nothing in the ledger."""

    command: ClassVar[str] = "forecast"
    as_of: dt.date = option("--as-of", "The day the forecast starts from: the data as held on this day, nothing new after it.",
                            metavar="DATE", required=True)
    horizon: int = option("--horizon", "How many months ahead to look (every month end up to then).", metavar="MONTHS", default=12,
                          shown_default="12", ge=1, le=36)
    ledger: str | None = option("--ledger", "The claims ledger whose claims are left out (read only).", metavar="FILE|URL",
                                shown_default="reports/ledger.sqlite in the workspace, if there")
    allocation: int | None = option("--allocation", "How many families the council may claim for in all (as `tfclaims claim --allocation`).",
                                    metavar="N", shown_default="the council config's, else the framework's", ge=0)

    check_ledger = field_validator("ledger", mode="after")(lambda cls, v: _ledger_target(v))

    def _resolve(self) -> None:
        if self.ledger is None:
            self.ledger = self._default_ledger()
        super()._resolve()
        _check_as_of_in_programme(self.load_framework(), self.as_of)


class ComparePlansOptions(CohortOptions):
    """``tfclaims compare-plans``: a plan against its framework, or two plans, on one cohort at one date."""

    command: ClassVar[str] = "compare-plans"
    as_of: dt.date = option("--as-of", "The date of the judgement (a claim run with this period end, on this cohort).",
                            metavar="DATE", required=True)
    plans: list[Path] = option("--plan", "A local outcome plan file or name: once (the plan against its framework) or twice (plan A against plan B).",
                               metavar="FILE", required=True)
    ledger: str | None = option("--ledger", "The claims ledger whose claims count as already made (read only).", metavar="FILE|URL",
                                shown_default="reports/ledger.sqlite in the workspace, if there")
    allocation: int | None = option("--allocation", "How many families the council may claim for in all (as `tfclaims claim --allocation`).",
                                    metavar="N", shown_default="the council config's, else the framework's", ge=0)

    check_ledger = field_validator("ledger", mode="after")(lambda cls, v: _ledger_target(v))

    @field_validator("plans", mode="after")
    @classmethod
    def check_plans(cls, v: list[Path]) -> list[Path]:
        if not 1 <= len(v) <= 2:
            raise ValueError("give --plan once (a plan against its framework) or twice (two plans)")
        return [p for p in (_plan_file(x) for x in v) if p is not None]

    def _resolve(self) -> None:
        if self.ledger is None:
            self.ledger = self._default_ledger()
        super()._resolve()
        for fw in self.load_frameworks():
            _check_as_of_in_programme(fw, self.as_of)

    def load_frameworks(self) -> tuple[Framework, Framework]:
        """Rules A (the first plan) and B (the second plan, else the framework the first extends)."""
        loaded = []
        for plan in self.plans:
            try:
                loaded.append(load_plan(plan))
            except ConfigError as exc:
                if str(exc).startswith(f"{plan}:"):
                    raise
                raise ConfigError(f"--plan {plan}: {exc}") from None
        if len(loaded) == 1:
            loaded.append(load_framework(loaded[0].name))
        return loaded[0], loaded[1]

    def declared_local_codes(self) -> DeclaredCodes:
        """The local tables are checked against the codes of both plans."""
        a, b = (fw.declared_local_codes() for fw in self.load_frameworks())
        tables = set(a.codes) | set(b.codes)
        codes = {t: tuple(dict.fromkeys((*a.for_table(t), *b.for_table(t)))) for t in tables}
        return DeclaredCodes(" and ".join(p for p in (a.plan, b.plan) if p) or None, codes)


class SampleFields(BaseModel):
    """The spot-check draw: the defaults are the council config's ``spot_check`` (one place)."""

    sample_rate: float | None = option("--sample-rate", "Share of the claims sampled for internal audit (more than 0, at most 1).",
                                       metavar="RATE", shown_default="the council config's spot_check.rate, 0.10", gt=0, le=1)
    sample_min: int | None = option("--sample-min", "Smallest spot-check sample (all claims when there are fewer).", metavar="N",
                                    shown_default="the council config's spot_check.min, 5", ge=0)
    seed: int | None = option("--seed", "Seed of the spot-check draw.", metavar="N", shown_default="drawn at random, printed and recorded",
                              ge=0)

    @property
    def rate(self) -> float:
        return self.sample_rate if self.sample_rate is not None else self.council.spot_check.rate  # type: ignore[attr-defined]

    @property
    def min_n(self) -> int:
        return self.sample_min if self.sample_min is not None else self.council.spot_check.min  # type: ignore[attr-defined]


class RunOptions(ClaimOptions, SampleFields):
    """``tfclaims run``."""

    command: ClassVar[str] = "run"

    def _resolve(self) -> None:
        super()._resolve()
        check_workbook_not_started(self.out)  # the run writes its spot check into --out: never over an auditor's work


class DemoOptions(CommandOptions, SampleFields):
    """``tfclaims demo``: the built-in sample cohort into its own folder, with its own ledger and audit trail."""

    command: ClassVar[str] = "demo"
    out: Path | None = option("--out", "Folder for the demo's outputs, ledger and audit trail.", metavar="DIR",
                              shown_default="reports/demo in the workspace, else ./tfclaims-demo")
    check_out = field_validator("out", mode="after")(lambda cls, v: _out_folder(v))

    def _workspace(self) -> Workspace:  # the demo needs no workspace: its council config is the default one
        raise InputError("the demo has no workspace")

    @model_validator(mode="before")
    @classmethod
    def default_council(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("council") is None and values.get("config") is None and values.get("--config") is None:
            values = {**values, "council": CouncilConfig()}
        return values


class SpotCheckOptions(CommandOptions, SampleFields):
    """``tfclaims spot-check``."""

    command: ClassVar[str] = "spot-check"
    claim_dir: Path = option("--claim-dir", "The output folder of a claim run (claim_register.csv and the evidence).", metavar="DIR",
                             required=True)
    out: Path | None = option("--out", "Folder for spot_check_sample.csv and spot_check.xlsx.", metavar="DIR",
                              shown_default="the claim run's folder")
    check_out = field_validator("out", mode="after")(lambda cls, v: _out_folder(v))

    @field_validator("claim_dir", mode="after")
    @classmethod
    def check_claim_dir(cls, v: Path) -> Path:
        path = Path(v).expanduser().resolve()
        if not path.is_dir():
            raise ValueError(f"no such folder ({path})")
        if not (path / run_files.CLAIM_REGISTER_CSV).is_file():
            raise ValueError(f"{path} holds no claim_register.csv: give the output folder of a claim run")
        return path

    def _resolve(self) -> None:
        super()._resolve()
        if self.out is None:
            self.out = self.claim_dir
        if self.audit is None:
            self.audit = self._workspace().audit
        check_workbook_not_started(self.out)


class ReconcileOptions(CommandOptions):
    """``tfclaims reconcile``."""

    command: ClassVar[str] = "reconcile"
    verdicts: Path = option("--verdicts", "The auditor's completed spot_check.xlsx.", metavar="FILE", required=True)
    ledger: str | None = option("--ledger", "The claims ledger: a SQLite file or a postgresql:// URL.", metavar="FILE|URL",
                                shown_default="reports/ledger.sqlite in the workspace")
    out: Path | None = option("--out", "Folder for reconciliation.csv and reconciliation.json.", metavar="DIR",
                              shown_default="reports/<run id> in the workspace")
    check_out = field_validator("out", mode="after")(lambda cls, v: _new_run_folder(v))
    check_ledger = field_validator("ledger", mode="after")(lambda cls, v: _ledger_target(v))

    check_verdicts = field_validator("verdicts", mode="after")(lambda cls, v: _existing_file(v))

    def _resolve(self) -> None:
        super()._resolve()
        ws = self._workspace()
        if self.ledger is None:
            self.ledger = self._default_ledger()
        if self.out is None:
            self.out = ws.run_dir(self.run_id)
        if self.audit is None:
            self.audit = Path(self.ledger).parent / AUDIT_FILE if not is_url(self.ledger) else ws.audit


class ConsortiumOptions(_Options):
    """``tfclaims consortium run``: one claim window for many councils (``tfclaims.consortium``).

    Not a ``CommandOptions``: a consortium has no council config of its own and may run outside any
    workspace; each council's own ``RunOptions`` are built (and checked) from its entry in the
    councils file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run_id: str = Field(default_factory=new_run_id)
    councils: Path = option("COUNCILS", "The councils file (COUNCILS.yaml): each council's code, workspace and cohort.",
                            metavar="FILE", required=True)
    period_end: dt.date = option("--period-end", "The claim window's period end (the same for every council).", metavar="DATE",
                                 required=True)
    work_pool: str | None = option("--work-pool", "Run each council as a flow run of its own on this Prefect work pool "
                                   "(its workers started with `prefect worker start --pool NAME --type process`).", metavar="NAME")
    processes: int | None = option("--processes", "Run the councils in this many local processes (one Prefect flow, a task per council).",
                                   metavar="N", ge=1, le=64)
    out: Path | None = option("--out", "Folder for consortium_summary.json and consortium_report.html.", metavar="DIR",
                              shown_default="reports/consortium-<run id> in the workspace, else consortium/<run id> beside COUNCILS.yaml")
    resume: Path | None = option("--resume", "The folder of an earlier consortium run: run again only the councils that did not succeed.",
                                 metavar="DIR")
    operator: str | None = option("--operator", "Who runs this, as recorded in each council's audit trail and ledger.", metavar="NAME",
                                  shown_default="your user name")
    seed: int | None = option("--seed", "Seed of every council's spot-check draw.", metavar="N", shown_default="drawn at random for each",
                              ge=0)
    dry_run: bool = option("--dry-run", "Write every council's decisions and files; record nothing in any ledger.", default=False)

    check_councils = field_validator("councils", mode="after")(lambda cls, v: _existing_file(v))
    check_out = field_validator("out", mode="after")(lambda cls, v: _out_folder(v))

    @field_validator("resume", mode="after")
    @classmethod
    def check_resume(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        path = Path(v).expanduser().resolve()
        if not (path / "consortium_summary.json").is_file():
            raise ValueError(f"{path} holds no consortium_summary.json: give the output folder of an earlier consortium run")
        return path

    @model_validator(mode="after")
    def check_modes(self) -> ConsortiumOptions:
        if self.work_pool is not None and self.processes is not None:
            raise InputError("--work-pool and --processes: give one of them (a work pool's workers, or local processes), not both")
        if self.work_pool is not None and not self.work_pool.strip():
            raise InputError("--work-pool: give the name of a Prefect work pool")
        if self.resume is not None and self.out is not None and self.out != self.resume:
            raise InputError(f"--out {self.out} with --resume {self.resume}: a resumed consortium run writes into its own folder; "
                             "leave --out out")
        self.operator = (self.operator if self.operator is not None else operator_name()).strip()
        if not self.operator:
            raise InputError("--operator: give the name of the person running this")
        return self

    @property
    def multi_process(self) -> bool:
        """More than one process runs councils: each needs a Prefect server to report to."""
        return self.work_pool is not None or (self.processes or 1) > 1

    @property
    def mode(self) -> str:
        if self.work_pool is not None:
            return "work-pool"
        return "processes" if self.processes is not None else "sequential"


__all__ += ["ConsortiumOptions"]
