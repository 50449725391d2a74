"""The ``tfclaims`` command line. Command groups live in sibling modules and register on ``app``."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

import typer

from tfclaims.core.errors import InputError
from tfclaims.core.workspace import find_workspace

app = typer.Typer(
    name="tfclaims",
    help="Troubled Families / Supporting Families payment-by-results claims pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _prefect_defaults() -> None:
    """Keep Prefect's temporary server inside the project, quiet and offline, unless the user configured it."""
    try:
        ws = find_workspace()
    except InputError:
        ws = None
    if ws is not None:
        os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_TASKS_DEFAULT_NO_CACHE", "true")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def _register_commands() -> None:
    """Import every module of this package: each adds its commands to ``app`` on import."""
    import importlib
    import pkgutil

    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{mod.name}")


def main(argv: list[str] | None = None) -> None:
    _prefect_defaults()
    _register_commands()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # standalone mode: Typer prints bad-argument errors itself and exits 2
        app(args=argv, prog_name="tfclaims")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # an internal error: keep the traceback in a log file
        log = Path(tempfile.gettempdir()) / "tfclaims-error.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"internal error: {type(exc).__name__}: {exc}\n(traceback written to {log})", file=sys.stderr)
        sys.exit(1)


@app.callback()
def _root() -> None:
    """Troubled Families / Supporting Families payment-by-results claims pipeline.

    Stages: validate -> link -> identify -> track -> claim -> spot-check. `tfclaims demo` runs them all
    on the built-in sample cohort.
    """
