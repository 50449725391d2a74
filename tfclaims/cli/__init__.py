"""The ``tfclaims`` command line. Command groups live in sibling modules and register on ``app``.

Exit codes: 0 success; 2 bad input or arguments (the message names the file, sheet, row and
column, or the option as typed), nothing changed; 1 an internal error, whose traceback goes to
an error log in the workspace readable only by its owner (the message says where).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import tfclaims
from tfclaims.core.errors import InputError
from tfclaims.core.workspace import HOME_ENV, find_workspace

app = typer.Typer(
    name="tfclaims",
    help="Troubled Families / Supporting Families payment-by-results claims pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)


def _prefect_defaults() -> None:
    """Keep Prefect's temporary server in the workspace, quiet and offline, unless the user configured it."""
    try:
        ws = find_workspace()
    except InputError:
        ws = None
    if ws is not None:
        os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
    from tfclaims.core.orchestration import PREFECT_DEFAULTS

    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _register_commands() -> None:
    """Import every module of this package: each adds its commands to ``app`` on import."""
    import importlib
    import pkgutil

    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{mod.name}")


def error_log_path() -> Path:
    """Where a traceback goes: the workspace's ``logs/``, else the temporary folder (both private to the user)."""
    try:
        ws = find_workspace()
    except InputError:
        ws = None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = ws.logs_dir if ws is not None else Path(tempfile.gettempdir()) / f"tfclaims-{os.getuid()}"
    return folder / f"error-{stamp}-{os.getpid()}.log"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def main(argv: list[str] | None = None) -> None:
    _prefect_defaults()
    _register_commands()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_run_logs)
    from tfclaims.cli.console import show_progress

    progress = show_progress()
    interrupted = _watch_for_ctrl_c()
    try:
        # standalone mode: Typer prints bad-argument errors itself and exits 2 (130 after Ctrl-C)
        app(args=argv, prog_name="tfclaims")
    except (KeyboardInterrupt, SystemExit):
        if not interrupted:
            raise
        progress.stop()
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"note: {note}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # an internal error: keep the traceback in a private log file
        log = error_log_path()
        try:
            _write_private(log, traceback.format_exc())
            where = f"traceback written to {log}"
        except OSError as log_exc:
            where = f"the traceback could not be written to {log}: {log_exc}"
        print(f"internal error: {type(exc).__name__}: {exc}\n({where})", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"note: {note}", file=sys.stderr)
        sys.exit(1)


INTERRUPTED = ("interrupted (Ctrl-C): stopped. Outputs are written whole or not at all; a run that was under way "
               "is recorded in the audit trail as failed (interrupted)")


def _not_run_logs(record: logging.LogRecord) -> bool:
    """Prefect's flow and task run logs stay in the run log (the UI), off the terminal: a failed run's
    error is the one line this command prints (and an internal error's traceback is in its log file)."""
    return not record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))


def _watch_for_ctrl_c() -> list[bool]:
    """Ctrl-C raises KeyboardInterrupt as usual (every audit record and atomic write sees it) and is
    remembered, so the command ends with one line and exit 130 whatever caught it on the way."""
    seen: list[bool] = []

    def on_ctrl_c(signum: int, frame: Any) -> None:
        seen.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_ctrl_c)
    return seen


def _version(value: bool) -> None:
    if value:
        print(f"tfclaims {tfclaims.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True)] = False,
    workspace: Annotated[Optional[Path], typer.Option("--workspace", help="The workspace folder (see `tfclaims init`).",
                                                      metavar="DIR", show_default=f"${HOME_ENV}, else the nearest tfclaims.toml upwards")] = None,
) -> None:
    """Troubled Families / Supporting Families payment-by-results claims pipeline.

    Stages: validate -> link -> identify -> track -> claim -> spot-check. `tfclaims demo` runs them all
    on the built-in sample cohort. A council's state (ledger, audit trail, run folders) lives in a
    workspace: make one with `tfclaims init DIR`.
    """
    if workspace is not None:
        ws = find_workspace(workspace)  # InputError (exit 2) when it is not a workspace
        os.environ[HOME_ENV] = str(ws.root)
        os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
