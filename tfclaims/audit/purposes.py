"""The purposes register: why tfclaims may use personal data, and who may receive its outputs.

The register (``data/privacy/purposes.yaml``) is built from the council's privacy notice. Every
command runs under the purposes ``purpose_for_command`` gives it; a purpose the register lacks
stops the command (``InputError``). Every output names a recipient; ``check_recipient`` refuses one
the purpose does not allow.

Commands and purposes:

=================================  ===========================================================
command                            purposes
=================================  ===========================================================
``validate``, ``identify``,        ``identification``
``link``
``track``, ``forecast``,            ``tracking``
``compare-plans``
``claim``, ``ledger ...``          ``pbr_claim``
``spot-check``                     ``spot_checks``
``reconcile``                      ``spot_checks``, then ``pbr_claim`` (the claim files it re-issues)
``run``, ``demo``                  all four, in pipeline order: the run record lists them and
                                   each output carries the purpose of the stage that wrote it
                                   (``outputs`` section of the register)
``synth``                          none: synthetic data is not personal data
=================================  ===========================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tfclaims.core.cohort import TABLES
from tfclaims.core.errors import ConfigError, InputError
from tfclaims.core.resources import PRIVACY_DIR, safe_yaml

REGISTER_PATH = PRIVACY_DIR / "purposes.yaml"

TF_PURPOSES: tuple[str, ...] = ("identification", "tracking", "pbr_claim", "spot_checks")

# The first word of a command (``"ledger withdraw"`` -> ``"ledger"``) -> the purposes it runs under.
COMMAND_PURPOSES: dict[str, tuple[str, ...]] = {
    "validate": ("identification",),
    "identify": ("identification",),
    "link": ("identification",),
    "track": ("tracking",),
    "forecast": ("tracking",),  # looking ahead at the families on the programme: claims nothing
    "compare-plans": ("tracking",),
    "claim": ("pbr_claim",),
    "ledger": ("pbr_claim",),
    "spot-check": ("spot_checks",),
    "spot_check": ("spot_checks",),
    "reconcile": ("spot_checks", "pbr_claim"),  # an invalid verdict withdraws a claim and re-issues the claim's files
    "run": TF_PURPOSES,
    "demo": TF_PURPOSES,
    "synth": (),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dpa2018Condition(_Strict):
    reference: str
    title: str
    why: str
    council_to_confirm: bool = True


class LawfulBasis(_Strict):
    id: str
    article: str
    title: str
    text: str
    dpa2018_conditions: list[Dpa2018Condition] = Field(default_factory=list)
    appropriate_policy_document: str | None = None
    council_to_confirm: bool = True


class Law(_Strict):
    id: str
    title: str


class Recipient(_Strict):
    id: str
    name: str
    source: Literal["notice", "internal"]


class DataCategory(_Strict):
    table: str
    description: str
    special_category: bool = False
    criminal_offence: bool = False


class Purpose(_Strict):
    id: str
    wording: str = Field(description="the notice's exact words")
    title: str
    what_tfclaims_does: str
    lawful_bases: list[str]
    laws: list[str]
    data_categories: list[str]
    recipients: list[str]
    default_recipient: str
    council_to_confirm: list[str] = Field(default_factory=list)


class OutputRoute(_Strict):
    purpose: str
    recipient: str


class Notice(_Strict):
    title: str
    last_updated: dt.date
    file: str
    automated_decisions: list[str]
    automated_decisions_in_this_product: str
    overseas_transfers: list[str]
    overseas_transfers_in_this_product: str


def _unique(kind: str, ids: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{kind} id {i!r} appears twice")
        seen.add(i)
    return seen


def _unknown(kind: str, where: str, used: Iterable[str], known: set[str]) -> None:
    missing = sorted(set(used) - known)
    if missing:
        raise ValueError(f"{where}: unknown {kind} {', '.join(missing)} (known: {', '.join(sorted(known))})")


class Register(_Strict):
    """The purposes register. Cross-references are checked when it is loaded."""

    register_version: int
    notice: Notice
    lawful_bases: list[LawfulBasis]
    laws: list[Law]
    recipients: list[Recipient]
    data_categories: list[DataCategory]
    purposes: list[Purpose]
    outputs: dict[str, OutputRoute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_exist(self) -> Register:
        bases = _unique("lawful basis", (b.id for b in self.lawful_bases))
        laws = _unique("law", (law.id for law in self.laws))
        recipients = _unique("recipient", (r.id for r in self.recipients))
        tables = _unique("data category", (c.table for c in self.data_categories))
        purposes = _unique("purpose", (p.id for p in self.purposes))
        _unknown("contract table", "data_categories", tables, set(TABLES))
        for p in self.purposes:
            where = f"purpose {p.id}"
            _unknown("lawful basis", where, p.lawful_bases, bases)
            _unknown("law", where, p.laws, laws)
            _unknown("data category", where, p.data_categories, tables)
            _unknown("recipient", where, p.recipients, recipients)
            if p.default_recipient not in p.recipients:
                raise ValueError(f"{where}: default_recipient {p.default_recipient!r} is not among its recipients")
        by_id = {p.id: p for p in self.purposes}
        for name, route in self.outputs.items():
            _unknown("purpose", f"output {name}", [route.purpose], purposes)
            if route.recipient not in by_id[route.purpose].recipients:
                raise ValueError(
                    f"output {name}: recipient {route.recipient!r} is not allowed for purpose {route.purpose!r}"
                )
        return self

    def purpose(self, purpose_id: str) -> Purpose:
        for p in self.purposes:
            if p.id == purpose_id:
                return p
        raise InputError(
            f"purpose {purpose_id!r} is not in the purposes register "
            f"(known: {', '.join(p.id for p in self.purposes)}): a command cannot run under it"
        )

    def recipient(self, recipient_id: str) -> Recipient:
        for r in self.recipients:
            if r.id == recipient_id:
                return r
        raise InputError(f"recipient {recipient_id!r} is not in the purposes register")

    def basis(self, basis_id: str) -> LawfulBasis:
        return next(b for b in self.lawful_bases if b.id == basis_id)

    def lawful_basis_articles(self, purpose_id: str) -> list[str]:
        return [self.basis(b).article for b in self.purpose(purpose_id).lawful_bases]


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Register:
    p = Path(path)
    try:
        raw = safe_yaml(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read the purposes register: {exc}") from exc
    try:
        return Register.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{p}: {problems}") from exc


def load_register(path: Path | str | None = None) -> Register:
    """Read and validate the purposes register (default ``data/privacy/purposes.yaml``)."""
    p = Path(path) if path is not None else REGISTER_PATH
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the purposes register: {exc}") from exc
    return _load_cached(str(p.resolve()), mtime)


def purpose_for_command(command: str, register: Register | None = None) -> tuple[str, ...]:
    """The purposes a command runs under (empty for ``synth``). Each must be in the register.

    ``command`` may be a group with its sub-command (``"ledger withdraw"``): the first word decides.
    Raises ``InputError`` for a command without a purpose, or a purpose the register lacks.
    """
    word = command.strip().split()[0] if command.strip() else ""
    if word not in COMMAND_PURPOSES:
        raise InputError(f"command {command!r} has no purpose in tfclaims: it cannot process personal data")
    purposes = COMMAND_PURPOSES[word]
    reg = register or load_register()
    for p in purposes:
        reg.purpose(p)  # raises when the register lacks it
    return purposes


def check_recipient(purpose: str, recipient: str, register: Register | None = None) -> Recipient:
    """Refuse (``InputError``) an output going to a recipient the purpose does not allow."""
    reg = register or load_register()
    p = reg.purpose(purpose)
    r = reg.recipient(recipient)
    if recipient not in p.recipients:
        allowed = ", ".join(p.recipients)
        raise InputError(
            f"recipient {recipient!r} ({r.name}) is not allowed for purpose {purpose!r} "
            f"({p.wording!r}); allowed: {allowed}"
        )
    return r


def output_route(
    file_name: str, purposes: tuple[str, ...], register: Register | None = None
) -> tuple[str | None, str]:
    """The (purpose, recipient) an output file gets by default within a run under ``purposes``.

    One purpose: that purpose, the recipient listed for the file in the register's ``outputs``
    (when that purpose allows it) or else the purpose's default recipient. Several purposes (``run``,
    ``demo``): the purpose of the stage that writes the file (register ``outputs``), else the run's
    first purpose. No purpose (``synth``): ``(None, "council_tf_team")``.
    """
    reg = register or load_register()
    stem = Path(file_name).name.split(".")[0]
    route = reg.outputs.get(stem)
    if not purposes:
        return None, "council_tf_team"
    if len(purposes) == 1 or route is None or route.purpose not in purposes:
        purpose = purposes[0]
    else:
        purpose = route.purpose
    p = reg.purpose(purpose)
    if route is not None and route.recipient in p.recipients:
        return purpose, route.recipient
    return purpose, p.default_recipient
