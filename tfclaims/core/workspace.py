"""A council's workspace: the one folder that holds its state, never the installation.

    <workspace>/
      tfclaims.toml        marks the folder as a workspace (and names its state folder)
      council.yaml         the council config (optional; ``--config`` wins)
      reports/             run folders, the claims ledger, the audit trail and its head
      reports/logs/        error logs with tracebacks (readable only by their owner)
      .prefect/            Prefect's local database, when no Prefect server is configured

A command finds its workspace as git finds ``.git``: ``--workspace DIR`` if given, else the
environment variable ``TFCLAIMS_HOME``, else the nearest ``tfclaims.toml`` in the current folder
or one of its parents. ``tfclaims init DIR`` makes one. Every path here is absolute.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from tfclaims.core.errors import ConfigError, InputError

WORKSPACE_FILE = "tfclaims.toml"
HOME_ENV = "TFCLAIMS_HOME"
COUNCIL_CONFIG_FILE = "council.yaml"
LEDGER_FILE = "ledger.sqlite"
AUDIT_FILE = "audit.jsonl"
DEMO_FOLDER = "tfclaims-demo"

__all__ = ["Workspace", "WorkspaceSettings", "find_workspace", "require_workspace", "init_workspace", "is_workspace",
           "WORKSPACE_FILE", "HOME_ENV", "DEMO_FOLDER"]


class WorkspaceSettings(BaseModel):
    """The ``[workspace]`` table of ``tfclaims.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: str = "reports"


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: WorkspaceSettings = WorkspaceSettings()

    @property
    def reports_dir(self) -> Path:
        return self.root / self.settings.reports

    @property
    def ledger(self) -> Path:
        return self.reports_dir / LEDGER_FILE

    @property
    def audit(self) -> Path:
        return self.reports_dir / AUDIT_FILE

    @property
    def logs_dir(self) -> Path:
        return self.reports_dir / "logs"

    @property
    def prefect_home(self) -> Path:
        return self.root / ".prefect"

    @property
    def council_config(self) -> Path | None:
        path = self.root / COUNCIL_CONFIG_FILE
        return path if path.is_file() else None

    def run_dir(self, run_id: str) -> Path:
        return self.reports_dir / run_id


def is_workspace(folder: Path) -> bool:
    return (folder / WORKSPACE_FILE).is_file()


def _load(root: Path) -> Workspace:
    path = root / WORKSPACE_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the workspace file: {exc}") from exc
    unknown = sorted(set(raw) - {"workspace"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; a workspace file has only [workspace]")
    try:
        settings = WorkspaceSettings.model_validate(raw.get("workspace") or {})
    except ValidationError as exc:
        problems = "; ".join(f"workspace.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
    reports = Path(settings.reports)
    if reports.is_absolute() or ".." in reports.parts:
        raise ConfigError(f"{path}: workspace.reports {settings.reports!r} must be a folder inside the workspace")
    return Workspace(root.resolve(), settings)


def find_workspace(explicit: Path | str | None = None, *, cwd: Path | None = None) -> Workspace | None:
    """The workspace of a command, or None when there is none (see the module's docstring)."""
    if explicit is not None:
        root = Path(explicit).expanduser().resolve()
        if not is_workspace(root):
            raise InputError(f"--workspace {explicit}: {root} is not a tfclaims workspace (no {WORKSPACE_FILE}); "
                             f"create one with `tfclaims init {explicit}`")
        return _load(root)
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        if not is_workspace(root):
            raise InputError(f"{HOME_ENV}={home}: {root} is not a tfclaims workspace (no {WORKSPACE_FILE}); "
                             f"create one with `tfclaims init {home}`")
        return _load(root)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return _load(folder)
    return None


def require_workspace(explicit: Path | str | None = None, *, cwd: Path | None = None) -> Workspace:
    """The workspace, or an ``InputError`` (exit 2) that says how to make one."""
    ws = find_workspace(explicit, cwd=cwd)
    if ws is None:
        here = (cwd or Path.cwd()).resolve()
        raise InputError(
            f"no tfclaims workspace here ({here}) or in any folder above it. A workspace holds the council's ledger, "
            f"audit trail and run folders. Create one with `tfclaims init DIR` and run commands inside DIR, "
            f"or point at one with --workspace DIR or {HOME_ENV}=DIR"
        )
    return ws


_WORKSPACE_TEXT = """\
# This folder is a tfclaims workspace: the council's claims ledger, audit trail, run folders and
# error logs live under the state folder below. Commands run anywhere inside this folder use it
# (or point at it with --workspace DIR or TFCLAIMS_HOME=DIR). Keep it on backed-up storage
# that only the Troubled Families team can read: it holds personal data.
[workspace]
reports = "reports"   # the state folder, inside this workspace
"""

_COUNCIL_TEXT = """\
# The council config: every key is optional; an unknown key is an error.
# council_name: Example Council
# council_code: E10000002       # the council's GSS code (needed on a PostgreSQL ledger shared by councils)
# framework: tf-phase2          # or sf-2022, or a framework file
# plan: plans/our-plan.yaml     # a local outcome plan
# allocation: 1200              # families the council may claim for in all
# spot_check: {rate: 0.10, min: 5}
# The reference key (the council's secret behind the pseudonymous family references) is best
# kept out of this file: name a file only the team can read (reference_key_file: secret/key),
# or set the environment variable TFCLAIMS_REFERENCE_KEY.
"""


def init_workspace(folder: Path | str) -> tuple[Workspace, bool]:
    """Make ``folder`` a workspace (its state folder and a commented council config). Returns
    (workspace, created); an existing workspace is left as it is."""
    root = Path(folder).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"tfclaims init {folder}: {root} is a file, not a folder")
    if is_workspace(root):
        return _load(root), False
    root.mkdir(parents=True, exist_ok=True)
    (root / WORKSPACE_FILE).write_text(_WORKSPACE_TEXT, encoding="utf-8")
    council = root / COUNCIL_CONFIG_FILE
    if not council.exists():
        council.write_text(_COUNCIL_TEXT, encoding="utf-8")
    ws = _load(root)
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    return ws, True
