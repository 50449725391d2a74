"""``tfclaims audit verify|show|person|family|prune``: check and read the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from tfclaims.audit import trail as audit
from tfclaims.cli import app
from tfclaims.core.config import DEMO_REFERENCE_KEY, CouncilConfig, load_config
from tfclaims.core.errors import InputError
from tfclaims.core.redact import display_target

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


def _council(config: Path | None) -> CouncilConfig:
    """The council config: ``--config``, else the workspace's ``council.yaml`` (if any): where the key is found."""
    if config is not None:
        return load_config(config)
    from tfclaims.core.workspace import find_workspace

    ws = find_workspace()
    return load_config(ws.council_config if ws is not None else None)


def _council_key(config: Path | None) -> str | None:
    return _council(config).resolved_reference_key()


def _refuse_unchecked(path: Path, res: audit.VerifyResult) -> None:
    raise InputError(
        f"{path}: only the chain's structure could be checked, not the seals of {len(res.unchecked)} record(s) "
        f"(sealed with key {', '.join(res.unchecked_fingerprints)}, not given): give the council key "
        "(TFCLAIMS_REFERENCE_KEY, or reference_key in --config), or add --structure-only to accept a check of "
        "the structure alone"
    )


def _verify_ledger(path: Path, ledger: str, key: str | None, council: str | None) -> None:
    """The head kept in the ledger, and every ledger row's seal."""
    from tfclaims.claim.ledger import Ledger, LedgerHeadStore

    shown = display_target(ledger)
    with Ledger.open(ledger, create=False, key=key, council=council) as book:  # closed after: a read leaves no -wal/-shm files behind
        store = LedgerHeadStore(book, path)
        res_ledger = audit.verify(path, store, keys=[key] if key else []) if store.get() is not None else None
        rows = book.verify_rows()
        from tfclaims.claim.runs import pending_runs

        stopped = pending_runs(book)
    if res_ledger is None:
        typer.echo(f"note: the ledger {shown} keeps no head for this log", err=True)
    elif not res_ledger.ok:
        raise InputError(f"{path} (head kept in the ledger {shown}): {res_ledger.message()}")
    else:
        typer.echo(f"{path}: the head kept in the ledger agrees")
    _ledger_checks(shown, rows, stopped)


def _ledger_checks(shown: str, rows: Any, stopped: list[Any]) -> None:
    if not rows.ok:
        raise InputError(rows.message())
    typer.echo(rows.message())
    if stopped:  # claims recorded (or about to be) by a run that never sealed its record
        runs = ", ".join(r.run_id for r in stopped)
        raise InputError(f"the ledger {shown} has {len(stopped)} claim run(s) that stopped before they were sealed ({runs}): "
                         "the next `tfclaims claim` or `tfclaims run` finishes them (claim file and audit record)")


@audit_app.command("verify")
def verify_cmd(
    audit_path: AuditOpt = None,
    ledger: Annotated[
        str | None,
        typer.Option("--ledger", metavar="FILE|URL", help="Also check this claims ledger: the head it keeps and every row's seal."),
    ] = None,
    config: ConfigOpt = None,
    structure_only: Annotated[
        bool, typer.Option("--structure-only", help="Accept a check of the chain's structure alone when the council key is not given.")
    ] = False,
) -> None:
    """Recompute the chain and its keyed seals. Exit 2 naming the first bad record when it is broken, when the log
    is missing, or when seals could not be checked for want of the council key (unless --structure-only)."""
    key = _council_key(config)
    council = _council(config).council_code
    book = _council_ledger(ledger, config, key) if audit_path is None else None
    if book is not None:  # the council's chain is in the ledger
        with book:
            _verify_council_chain(book, key, structure_only)
        return
    path = _path(audit_path)
    res = audit.verify(path, keys=[key] if key else [])
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    if not res.ok:
        raise InputError(f"{path}: {res.message()}")
    if res.unchecked and not structure_only:
        _refuse_unchecked(path, res)
    if ledger is not None:
        from tfclaims.claim.ledger import resolve_target

        _verify_ledger(path, resolve_target(ledger), key, council)
    typer.echo(f"{path}: {res.message()}")


def _verify_council_chain(book: Any, key: str | None, structure_only: bool) -> None:
    """A council's chain kept in a shared ledger: exported to a private temporary file and checked as any
    log is, against the head the ledger keeps; then every ledger row's seal."""
    import tempfile

    from tfclaims.claim.runs import pending_runs

    log = book.audit_log()
    with tempfile.TemporaryDirectory(prefix="tfclaims-audit-") as tmp:
        export = Path(tmp) / "audit.jsonl"
        if not log.export(export):
            raise InputError(f"{log.name}: the council's audit chain holds no record yet")
        res = audit.verify(export, log.head_store(), keys=[key] if key else [])
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    if not res.ok:
        raise InputError(f"{log.name}: {res.message()}")
    if res.unchecked and not structure_only:
        _refuse_unchecked(Path(log.name), res)
    _ledger_checks(display_target(book.target), book.verify_rows(), pending_runs(book))
    typer.echo(f"{log.name}: {res.message()}")


def _council_ledger(ledger: str | None, config: Path | None, key: str | None) -> Any:
    """The ledger named, opened for the council of ``--config`` (else the workspace's), when it keeps the
    council's audit chain; None otherwise."""
    from tfclaims.claim.ledger import Ledger, resolve_target

    if ledger is None or "://" not in ledger:
        return None
    book = Ledger.open(resolve_target(ledger), create=False, key=key, council=_council(config).council_code)
    if not book.keeps_audit_chain:
        book.close()
        return None
    return book


@audit_app.command("export")
def export_cmd(
    ledger: Annotated[str, typer.Option("--ledger", metavar="URL", help="The shared ledger that keeps the council's audit chain.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="The JSON-lines file to write (replaced whole).")],
    config: ConfigOpt = None,
) -> None:
    """Write the council's audit chain, kept in a ledger shared by councils, as the JSON-lines file every
    audit command reads (with its sealed head beside it): `tfclaims audit verify --audit FILE` checks it."""
    key = _council_key(config)
    book = _council_ledger(ledger, config, key)
    if book is None:
        raise InputError(f"--ledger {display_target(ledger)}: only a PostgreSQL ledger shared by councils keeps the audit chain; "
                         "a SQLite ledger's chain is the audit.jsonl file beside it")
    with book:
        log = book.audit_log()
        n = log.export(out)
        head = log.head()
    if head is not None and key:
        audit.FileHeadStore(out).set(head[0], head[1], key)
    typer.echo(f"{out}: {n} records of {log.name}")


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
    council_key = _council_key(config)
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


def _dry_prune(path: Path, day: dt.date, key: str | None) -> None:
    """Say what ``--yes`` would remove and refuse (exit 2); with nothing to remove, say so."""
    plan = audit.plan_prune(path, day, key=key)
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
    config: ConfigOpt = None,
) -> None:
    """Retention: remove records older than a date; the chain stays verifiable from a checkpoint."""
    day = _prune_day(before)
    path = _path(audit_path)
    key = _council_key(config)
    if not yes:
        _dry_prune(path, day, key)
        return
    res = audit.prune(path, day, operator=operator, key=key)
    if res.removed == 0:
        typer.echo(f"{path}: no records before {day}; nothing pruned ({res.kept} kept)")
    else:
        typer.echo(f"{path}: pruned {res.removed} records before {day}; {res.kept} kept; prune run {res.prune_run_id}")
