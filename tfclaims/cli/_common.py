"""The command line's seam with the options models: a command's options are its model's fields.

``options_command(group, name, Model)`` makes a Typer command whose options are the fields of
``Model`` that carry an option name (``tfclaims.options``): the same name, help text, metavar
(``DATE``, ``FILE``, ...) and shown default everywhere, required options marked ``[required]``.
What the user typed goes to ``Model.of`` unchanged, which checks it all before anything is read
or written. ``execute(opts)`` then runs the command's Prefect flow (or the plain pipeline when
``TFCLAIMS_ORCHESTRATOR=none``) and returns the run summary.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tfclaims.core import run_files
from tfclaims.core.orchestration import PREFECT_PORT, Step, direct, use_prefect
from tfclaims.options import CommandOptions, cli_fields

__all__ = ["options_command", "execute", "ledger_command", "prefect_api_url", "print_counts", "print_outputs", "use_workspace_prefect"]

# command -> (flows module, flow, pipeline function)
_RUNNERS = {
    "validate": ("ingest", "validate_flow", "validate"),
    "identify": ("identify", "identify_flow", "identify"),
    "track": ("track", "track_flow", "track"),
    "claim": ("claim", "claim_flow", "claim"),
    "run": ("claim", "run_flow", "run"),
    "demo": ("claim", "demo_flow", "demo"),
    "spot-check": ("spot_check", "spot_check_flow", "spot_check"),
    "reconcile": ("spot_check", "reconcile_flow", "reconcile"),
    "forecast": ("forecast", "forecast_flow", "forecast"),
    "compare-plans": ("forecast", "compare_plans_flow", "compare_plans"),
}


def _parameter(name: str, field: Any) -> inspect.Parameter:
    extra = field.json_schema_extra or {}
    if field.annotation is bool:
        opt = typer.Option(field.alias, help=field.description)
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[bool, opt])
    shown = extra.get("shown_default")
    opt = typer.Option(field.alias, help=field.description, metavar=extra.get("metavar"), show_default=shown if shown else False)
    if getattr(field.annotation, "__origin__", None) is list:  # an option given more than once (``--plan A --plan B``)
        if field.is_required():
            return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[list[str], opt])
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[list[str]], opt])
    if field.is_required():
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, opt])
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[str], opt])


def options_command(group: typer.Typer, name: str, model: type[CommandOptions]) -> Callable[[Callable[[Any], None]], Callable[..., None]]:
    """Register ``handler(opts)`` as command ``name`` of ``group`` with the options of ``model``."""

    def register(handler: Callable[[Any], None]) -> Callable[..., None]:
        fields = cli_fields(model)
        params = [_parameter(n, f) for n, f in fields]
        params.sort(key=lambda p: p.default is not inspect.Parameter.empty)  # required options first

        def command(**typed: Any) -> None:
            handler(model.of(**{model.model_fields[k].alias: v for k, v in typed.items()}))

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = handler.__doc__
        command.__name__ = handler.__name__
        group.command(name)(command)
        return command

    return register


def use_workspace_prefect(prefect_home: Path) -> None:
    """Prefect's local database in the workspace, unless the user configured Prefect otherwise."""
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))


TEMPORARY_SERVER_NOTE = (
    "no Prefect server is configured (PREFECT_API_URL), so this command starts a temporary one: about 10-15 s more, "
    "and its runs are not kept in a UI you can open. Day to day, leave `tfclaims server` running and "
    f"`export PREFECT_API_URL=http://127.0.0.1:{PREFECT_PORT}/api` (or set TFCLAIMS_ORCHESTRATOR=none for plain Python)"
)


def prefect_api_url() -> str | None:
    """The Prefect server commands report to (``PREFECT_API_URL``, from the environment or Prefect's
    profile), or None: each command would start a temporary one."""
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if url:
        return url
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def _note_temporary_server() -> None:
    """Say, once per command, that it is paying for Prefect's temporary server."""
    if not prefect_api_url():
        print(f"note: {TEMPORARY_SERVER_NOTE}", file=sys.stderr, flush=True)


def execute(opts: CommandOptions) -> Any:
    """Run the command of ``opts`` as its Prefect flow (or as plain Python) and return its result."""
    module, flow_name, function = _RUNNERS[opts.command]
    if use_prefect():
        _note_temporary_server()
        flow = getattr(importlib.import_module(f"tfclaims.flows.{module}"), flow_name)
        return flow(opts)
    from tfclaims import pipeline

    result = getattr(pipeline, function)(opts)
    return result.summary if hasattr(result, "summary") else result


def ledger_command(command: str, work: Callable[[Step, str], tuple[list[str], list[str]]]) -> None:
    """Run a ledger action: ``work(step, record_id)`` returns the lines to print and the lines for
    its Prefect artifact (without family ids); as its own flow run unless ``TFCLAIMS_ORCHESTRATOR=none``."""
    from tfclaims.audit.trail import new_run_id

    record_id = new_run_id()
    if use_prefect():
        from tfclaims.flows.ledger import ledger_flow

        _note_temporary_server()
        lines, _ = ledger_flow(command, record_id, lambda step: work(step, record_id))
    else:
        lines, _ = work(direct, record_id)
    for line in lines:
        typer.echo(line)


def print_counts(summary: dict[str, Any]) -> None:
    """Per-table counts (read = accepted + quarantined; accepted = used + unmatched), then what was
    not read (files and sheets, with the reason) and what reading changed (e.g. merged cells filled)."""
    print(f"{'table':<20}{'read':>9}{'accepted':>10}{'quarantined':>13}{'unmatched':>11}")
    for table, c in summary["tables"].items():
        print(f"{table:<20}{c['read']:>9}{c['accepted']:>10}{c['quarantined']:>13}{c.get('unmatched', 0):>11}")
    if summary.get("ignored"):
        print("not read:")
        for entry in summary["ignored"]:
            sheet = f", sheet {entry['sheet']}" if entry.get("sheet") else ""
            print(f"  {entry['file']}{sheet}: {entry['reason']}")
    for note in summary.get("ingest_notes", []):
        sheet = f", sheet {note['sheet']}" if note.get("sheet") else ""
        print(f"note: {note['file']}{sheet}: {note['note']}")
    for r in summary.get("returns", []):
        print(_return_line(r))
    for table, day in summary.get("covered_to", {}).items():
        print(f"note: {table} comes only from the returns, so it is known only to {day}: rules needing to know there "
              "was no episode after that day are not evaluated")


def _return_line(r: dict[str, Any]) -> str:
    """One return's counts in words: files and years, records used, left out (by reason), findings."""
    ys = sorted({f["collection_year"] for f in r["files"]})
    years = f"(collection year{'s' if len(ys) > 1 else ''} {ys[0]}{'-' + str(ys[-1]) if len(ys) > 1 else ''})" if ys else ""
    rows = ", ".join(f"{n:,} {t} rows" for t, n in r["rows"].items()) or "no rows"
    reasons = "; ".join(f"{n:,} {why}" for why, n in r["left_out_by_reason"].items())
    left = f", {r['records_left_out']:,} left out ({reasons})" if r["records_left_out"] else ""
    found = f"; {r['findings']:,} value(s) break the specification (see {run_files.RETURNS_FINDINGS_CSV})" if r["findings"] else ""
    return f"{r['source']} {years}: {r['records_read']:,} records read, {r['records_used']:,} used as {rows}{left}{found}"


def print_outputs(out: Path, summary: dict[str, Any]) -> None:
    print(f"\noutputs in {out}:")
    for f in summary.get("outputs", []):
        if not f["name"].startswith("accepted/") and f["name"] != run_files.RUN_SUMMARY_JSON:
            recipient = f" (for {f['recipient']})" if f.get("recipient") else ""
            print(f"  {f['name']}{recipient}")
    for f in summary.get("csv_only", []):
        print(f"  no {f['workbook']}: {f['rows']:,} rows are more than a workbook for people holds "
              f"({run_files.WORKBOOK_MAX_ROWS:,}); the table is in {f['name']}")
    print("  accepted/*.parquet (the accepted tables, for later stages)")
    print("  run_summary.json")
