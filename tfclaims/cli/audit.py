"""``tfclaims audit verify|show|person|family|prune``: check and read the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from tfclaims.audit import trail as audit
from tfclaims.cli import app
from tfclaims.core.config import DEMO_REFERENCE_KEY, load_config
from tfclaims.core.errors import InputError

audit_app = typer.Typer(
    help="The audit trail: verify the hash chain, list runs, answer subject-access requests, prune.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

AuditOpt = Annotated[
    Path | None,
    typer.Option("--audit", metavar="FILE", help="The audit trail.", show_default="the workspace's reports/audit.jsonl"),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", metavar="FILE", help="The council config file (for the reference key).")]
OperatorOpt = Annotated[str | None, typer.Option("--operator", metavar="NAME", help="Who performs the action.", show_default="your user name")]


def _path(p: Path | None) -> Path:
    return p if p is not None else audit.default_audit_path()


@audit_app.command("verify")
def verify_cmd(
    audit_path: AuditOpt = None,
    ledger: Annotated[
        str | None, typer.Option("--ledger", metavar="FILE|URL", help="Also check the head kept in this claims ledger (a path or URL).")
    ] = None,
) -> None:
    """Recompute the hash chain. Exit 2 naming the first bad record when it is broken, or when the log is missing."""
    path = _path(audit_path)
    res = audit.verify(path)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    if not res.ok:
        raise InputError(f"{path}: {res.message()}")
    if ledger is not None:
        from tfclaims.claim.ledger import Ledger, LedgerHeadStore

        with Ledger.open(ledger, create=False) as book:  # closed after: a read leaves no -wal/-shm files behind
            store = LedgerHeadStore(book, path)
            res_ledger = audit.verify(path, store) if store.get() is not None else None
        if res_ledger is None:
            typer.echo(f"note: the ledger {ledger} keeps no head for this log", err=True)
        elif not res_ledger.ok:
            raise InputError(f"{path} (head kept in the ledger {ledger}): {res_ledger.message()}")
        else:
            typer.echo(f"{path}: the head kept in the ledger agrees")
    typer.echo(f"{path}: {res.message()}")


def _counts(rec: dict[str, Any]) -> str:
    touched = rec.get("touched") or {}
    fam = (touched.get("families") or {}).get("count", 0)
    ppl = (touched.get("people") or {}).get("count", 0)
    return f"in={len(rec.get('inputs', []))} out={len(rec.get('outputs', []))} families={fam} people={ppl}"


@audit_app.command("show")
def show_cmd(
    audit_path: AuditOpt = None,
    last: Annotated[int | None, typer.Option("--last", metavar="N", help="Only the last N runs.")] = None,
) -> None:
    """List the runs: time, command, purposes, status, counts."""
    path = _path(audit_path)
    if not path.exists():
        raise InputError(f"{path}: no audit log here")
    records = audit.read_records(path, include_checkpoint=True)
    if records and records[0].get("record_type") == "checkpoint":
        cp = records.pop(0)
        typer.echo(f"({cp['pruned_count']} records before {cp['pruned_before']} were pruned)")
    if last is not None:
        records = records[-last:]
    for rec in records:
        purposes = ",".join(rec.get("purposes", [])) or "-"
        status = rec.get("status", "?")
        line = f"{rec.get('seq', '?'):>5} {rec.get('time', '?')[:19]} {rec.get('run_id')} {rec.get('command')} [{purposes}] {status} {_counts(rec)}"
        if status == "failed" and rec.get("error"):
            line += f" error: {rec['error'][:120]}"
        typer.echo(line)
    typer.echo(f"{len(records)} runs")


def _subject(kind: str, identifier: str, audit_path: Path | None, config: Path | None) -> None:
    path = _path(audit_path)
    if not path.exists():
        raise InputError(f"{path}: no audit log here")
    if not identifier.strip():
        raise InputError(f"an empty {kind} id")
    council_key = load_config(config).resolved_reference_key()
    keys = [k for k in (council_key, DEMO_REFERENCE_KEY) if k]
    find = audit.person_runs if kind == "person" else audit.family_runs
    res = find(path, identifier, keys)
    typer.echo(f"{kind} {identifier}: used in {len(res.runs)} run(s) of {res.records_searched} searched")
    for run in res.runs:
        typer.echo(f"- {run['time'][:19]} run {run['run_id']} {run['command']} ({run['status']}, operator {run['operator']})")
        for p in run["purposes"]:
            bases = "; ".join(run["lawful_bases"].get(p, []))
            typer.echo(f"    purpose {p}: {run['purpose_wording'][p]!r} [{bases}]")
        for o in run["outputs"]:
            typer.echo(f"    output {o['path']} -> {o['recipient']} ({o['recipient_name']}) for {o['purpose']}")
    if res.unsearchable_runs:
        typer.echo(
            f"warning: {len(res.unsearchable_runs)} run(s) were recorded with another reference key and could not be "
            f"searched: {', '.join(res.unsearchable_runs[:20])}",
            err=True,
        )


@audit_app.command("person")
def person_cmd(
    person_id: Annotated[str, typer.Argument(help="The council's person id.", metavar="PERSON_ID")],
    audit_path: AuditOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Subject access: the runs, purposes and outputs that used this person's data."""
    _subject("person", person_id, audit_path, config)


@audit_app.command("family")
def family_cmd(
    family_id: Annotated[str, typer.Argument(help="The council's family id.", metavar="FAMILY_ID")],
    audit_path: AuditOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The runs, purposes and outputs that used this family's data."""
    _subject("family", family_id, audit_path, config)


def _prune_day(before: str) -> dt.date:
    """The ``--before`` day as typed: a date (YYYY-MM-DD), not after today."""
    try:
        day = dt.date.fromisoformat(before)
    except ValueError as exc:
        raise InputError(f"--before {before!r}: not a date (YYYY-MM-DD)") from exc
    try:
        audit.check_prune_date(day)
    except InputError as exc:
        raise InputError(f"--before {before!r}: {exc}") from None
    return day


def _dry_prune(path: Path, day: dt.date) -> None:
    """Say what ``--yes`` would remove and refuse (exit 2); with nothing to remove, say so."""
    plan = audit.plan_prune(path, day)
    if plan.count == 0:
        typer.echo(f"{path}: no records before {day}; nothing to prune ({plan.kept} kept)")
        return
    span = f"{(plan.first_time or '')[:10]} to {(plan.last_time or '')[:10]}"
    typer.echo(f"{path}: would remove {plan.count} records dated before {day} ({span}); {plan.kept} would be kept")
    raise InputError(f"{path}: nothing pruned: add --yes to remove the {plan.count} records dated before {day}")


@audit_app.command("prune")
def prune_cmd(
    before: Annotated[str, typer.Option("--before", metavar="DATE", help="Remove the records dated before this day (YYYY-MM-DD).")],
    yes: Annotated[bool, typer.Option("--yes", help="Really remove them; without it, only say what would be removed.")] = False,
    audit_path: AuditOpt = None,
    operator: OperatorOpt = None,
) -> None:
    """Retention: remove records older than a date; the chain stays verifiable from a checkpoint."""
    day = _prune_day(before)
    path = _path(audit_path)
    if not yes:
        _dry_prune(path, day)
        return
    res = audit.prune(path, day, operator=operator)
    if res.removed == 0:
        typer.echo(f"{path}: no records before {day}; nothing pruned ({res.kept} kept)")
    else:
        typer.echo(f"{path}: pruned {res.removed} records before {day}; {res.kept} kept; prune run {res.prune_run_id}")
