"""One settings model for a council: read from a YAML/JSON file, validated, unknown keys are errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tfclaims.core.errors import ConfigError, InputError
from tfclaims.core.resources import safe_yaml

REFERENCE_KEY_ENV = "TFCLAIMS_REFERENCE_KEY"
GSS_CODE_PATTERN = r"^[EWSN][0-9]{8}$"  # a council's GSS code: E06 unitary, E07 district, E08 metropolitan, E09 London, E10 county
DEMO_REFERENCE_KEY = "tfclaims-demo-key-not-for-real-claims"
DEFAULT_FRAMEWORK = "tf-phase2"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkageSettings(Strict):
    """Thresholds of the probabilistic link pass."""

    match_threshold: float = Field(0.99, ge=0.5, le=1.0, description="accept a match at or above this probability")
    ambiguity_margin: float = Field(0.05, ge=0.0, le=0.5, description="send to review when the runner-up is this close")
    model_path: Path | None = None


class SpotCheckSettings(Strict):
    rate: float = Field(0.10, gt=0.0, le=1.0)
    min: int = Field(5, ge=0)


class ClaimSchedule(Strict):
    """A claim run on a schedule, started by ``tfclaims serve`` for each claim window: ``cron`` (five
    fields, e.g. ``"0 7 5 1,4,7,10 *"``: 07:00 on the 5th of January, April, July and October), the
    cohort folder it reads, and whether it is a dry run (the default: a person checks the draft, then
    runs the real claim). The period end of each run is the end of the month before it starts."""

    cron: str = Field(pattern=r"^\S+( \S+){4}$")
    input: Path
    dry_run: bool = True


class ReaderLimits(Strict):
    """What a cohort workbook may hold before any of its cells is read (each is checked in the workbook's zip).

    The defaults fit a county's cohort with room to spare; a workbook beyond them is refused (exit 2),
    never half-read: the reader's memory grows with each of these, so they bound it.
    """

    max_rows: int = Field(2_000_000, ge=1, description="rows of one sheet (Excel itself holds 1,048,576)")
    max_columns: int = Field(200, ge=1, le=16_384, description="columns of one sheet (200 is column GR)")
    max_cells: int = Field(50_000_000, ge=1, description="cells of one sheet's used area from A1 (rows x columns)")
    max_inflated_bytes: int = Field(1_000_000_000, ge=1, description="the workbook's files uncompressed, in total")
    max_shared_strings_bytes: int = Field(300_000_000, ge=1, description="the shared-strings table uncompressed")
    max_shared_strings: int = Field(10_000_000, ge=1, description="distinct texts in the shared-strings table")
    max_return_bytes: int = Field(200_000_000, ge=1, description="one CIN census or SSDA903 file, before it is parsed")


class ReturnSettings(Strict):
    """How the children's social care returns in a cohort folder (CIN census XML, SSDA903 CSV) are read.

    By default a return brings in what the Department counts as children in need and looked-after
    children; each option brings in rows the Department counts separately (the run summary says
    how many were left out either way)."""

    include_cin_no_further_action: bool = Field(
        False, description="CIN census: also read referrals with no further action (ReferralNFA) and episodes closed RC8 or RC9")
    include_903_short_breaks: bool = Field(False, description="SSDA903: also read short-break respite episodes (legal status V3, V4)")


class DuckDBSettings(Strict):
    """What DuckDB (the linker's and the keyed hashes' engine) may use in one council run. Left out, a
    run takes the processor cores this process may use and a third of the machine's memory, set
    explicitly: several councils on one machine never each assume they own it."""

    threads: int | None = Field(None, ge=1, le=256, description="threads of one run's DuckDB connections")
    memory_limit: str | None = Field(None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
                                     description="memory of one run's DuckDB connections, e.g. 2GB")


class CouncilConfig(Strict):
    """Everything a council may set. ``column_aliases`` maps a table's own headers to contract names."""

    council_name: str = "Example Council"
    council_code: str | None = Field(None, pattern=GSS_CODE_PATTERN,
                                     description="the council's GSS code (E10000002); needed on a ledger shared by councils")
    column_aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    reference_key: str | None = Field(None, repr=False)
    reference_key_file: Path | None = Field(None, description="a file holding the council's reference key (e.g. a mounted secret)")
    ledger: str | None = Field(None, description="the council's claims ledger (a SQLite file or a postgresql:// URL)")
    allocation: int | None = Field(None, ge=0)
    framework: str = DEFAULT_FRAMEWORK
    plan: Path | None = None
    linkage: LinkageSettings = LinkageSettings()
    spot_check: SpotCheckSettings = SpotCheckSettings()
    reader_limits: ReaderLimits = ReaderLimits()
    returns: ReturnSettings = ReturnSettings()
    retention_years: int = Field(8, ge=1)
    claim_schedule: ClaimSchedule | None = None
    duckdb: DuckDBSettings = DuckDBSettings()

    def resolved_reference_key(self) -> str | None:
        """The council secret for pseudonymous references: the council's own secret file first (so a
        process serving several councils never uses one key for all), then the environment, then the
        config file."""
        if self.reference_key_file is not None:
            return _key_from_file(self.reference_key_file)
        return os.environ.get(REFERENCE_KEY_ENV) or self.reference_key

    def required_reference_key(self) -> str:
        """The council secret, or an ``InputError`` (exit 2) saying how to give it: the one check."""
        key = self.resolved_reference_key()
        if not key:
            raise InputError(
                f"no reference key: set the environment variable {REFERENCE_KEY_ENV} (or reference_key in the council "
                "config file) to the council's secret; it makes the pseudonymous family references in the claim file"
            )
        return key


def _key_from_file(path: Path) -> str:
    """The key a secret file holds (surrounding white space dropped); a missing or empty file is an error."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"reference_key_file {path}: cannot read the council's reference key: {exc.strerror or exc}") from exc
    if not key:
        raise ConfigError(f"reference_key_file {path}: the file is empty; it must hold the council's reference key")
    return key


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def load_config(path: Path | str | None) -> CouncilConfig:
    """Read a council config file (YAML or JSON). No file -> defaults."""
    if path is None:
        return CouncilConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else safe_yaml(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the council config: {exc}") from exc
    try:
        config = CouncilConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(e)}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
    here = path.parent.resolve()  # paths in the file are relative to it
    if config.reference_key_file is not None and not config.reference_key_file.is_absolute():
        config = config.model_copy(update={"reference_key_file": here / config.reference_key_file})
    if config.ledger and "://" not in config.ledger and not Path(config.ledger).expanduser().is_absolute():
        config = config.model_copy(update={"ledger": str(here / config.ledger)})
    return config
