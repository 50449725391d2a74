"""``tfclaims ledger show|withdraw|release|approve|seal|export``: look at the claims ledger and record people's decisions.

Every action that changes the ledger or writes from it runs as a Prefect flow of its own (``flows/ledger.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from tfclaims.cli import app
from tfclaims.cli._common import ledger_command
from tfclaims.core.config import DEFAULT_FRAMEWORK
from tfclaims.core.errors import InputError
from tfclaims.audit.trail import default_audit_path
from tfclaims.claim.decide import pounds_text
from tfclaims.claim.ledger import STATUSES, Ledger, resolve_target
from tfclaims.claim.reviews import find_discretion_review
from tfclaims.core.operator import operator_name
from tfclaims.core.orchestration import Step
from tfclaims.core.redact import name_subjects
from tfclaims.core.workspace import require_workspace
from tfclaims.pipeline import ledger_action, reissue_after_withdrawal


ledger_app = typer.Typer(
    help="The claims ledger: list claims, withdraw a claim, release an audit hold, record a discretionary approval.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")


def default_ledger() -> Path:
    return require_workspace().ledger


LedgerOption = Annotated[
    str | None,
    typer.Option("--ledger", metavar="FILE|URL", help="The ledger: a SQLite file, or a postgresql:// URL.",
                 show_default="the workspace's reports/ledger.sqlite"),
]
FrameworkOption = Annotated[str, typer.Option("--framework", metavar="NAME", help="The outcome framework.")]
OperatorOption = Annotated[
    str | None, typer.Option("--operator", metavar="NAME", help="Who performs the action.", show_default="your user name")
]
AuditOption = Annotated[
    Path | None, typer.Option("--audit", metavar="FILE", help="The audit trail.", show_default="audit.jsonl beside the ledger")
]


def _target(ledger: str | None) -> str:
    return resolve_target(ledger) if ledger else str(default_ledger())


def _pounds(pence: pd.Series) -> pd.Series:
    """Integer pence as ``800.00`` text (no float arithmetic)."""
    p = pence.astype("Int64")
    text = (p // 100).astype("str") + "." + (p % 100).astype("str").str.zfill(2)
    return text.where(p.notna(), "")


def _dates(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("")


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The ledger's claims as a person reads them."""
    return pd.DataFrame(
        {
            "claim_reference": claims["claim_reference"],
            "family_id": claims["family_id"],
            "framework": claims["framework"],
            "route": claims["route"],
            "period_end": _dates(claims["period_end"]),
            "amount_gbp": _pounds(claims["amount_pence"]),
            "status": claims["status"],
            "claimed_at": claims["claimed_at"].dt.strftime("%Y-%m-%d %H:%M").fillna(""),
            "run_id": claims["run_id"],
            "withdrawn_on": _dates(claims["withdrawn_on"]),
            "withdrawal_reason": claims["withdrawal_reason"].fillna(""),
            "verdict": claims["verdict"].fillna(""),
        }
    )


@ledger_app.command("show")
def show(
    ledger: LedgerOption = None,
    framework: Annotated[str | None, typer.Option("--framework", metavar="NAME", help="Only this framework.")] = None,
    status: Annotated[str | None, typer.Option("--status", metavar="STATUS", help="Only claims with this status (claimed, withdrawn).")] = None,
    audit: AuditOption = None,
    operator: OperatorOption = None,
) -> None:
    """List the claims in the ledger (and the families on audit hold or awaiting a discretionary claim)."""
    if status is not None and status not in STATUSES:
        raise InputError(f"--status {status!r} is not one of {', '.join(STATUSES)}")
    # reading the ledger shows family ids: a record access, kept in the audit trail
    with ledger_action("ledger show", _target(ledger), audit_path=audit, operator=operator or operator_name(),
                       framework=framework, status=status) as (book, rec):
        claims = book.claims(framework)
        rec.touched(family_ids=claims["family_id"])
        holds = book.holds(framework)
        frameworks = sorted(set(claims["framework"]) | set(holds["framework"])) if framework is None else [framework]
        pending = pd.concat([book.approvals(f) for f in frameworks], ignore_index=True) if frameworks else None
        target = book.target
    if status is not None:
        claims = claims.loc[claims["status"] == status]
    live = claims.loc[claims["status"] != "withdrawn"]
    total = int(live["amount_pence"].sum())
    typer.echo(f"Ledger {target}: {len(claims)} claim(s) shown, {len(live)} live, {pounds_text(total)} live")
    if claims.empty:
        typer.echo("(no claims)")
    else:
        typer.echo(claims_table(claims).to_string(index=False))
    open_holds = holds.loc[holds["released_on"].isna()]
    if status is None and not open_holds.empty:
        typer.echo("\nOn audit hold (not claimed until released with `tfclaims ledger release`):")
        shown = open_holds.assign(placed_on=_dates(open_holds["placed_on"]))
        typer.echo(shown[["family_id", "framework", "placed_on", "claim_reference", "reason"]].to_string(index=False))
    if status is None and pending is not None and not pending.empty:
        typer.echo("\nDiscretionary approvals awaiting the next claim run:")
        shown = pending.assign(approved_on=_dates(pending["approved_on"]))
        typer.echo(shown[["family_id", "framework", "approved_by", "approved_on", "reason"]].to_string(index=False))


def _refuse_early(target: str, check: Callable[[Ledger], None], *, missing_ok: bool = False) -> None:
    """Run a ledger's read-only check before the action opens its audit record, so that a refusal changes nothing.

    The action checks again inside its write transaction (another person may act meanwhile); a refusal
    found only there leaves a ``failed`` audit record. With ``missing_ok`` a ledger not yet created
    passes (there is nothing in it to refuse).
    """
    if missing_ok and "://" not in target and not Path(target).exists():
        return
    with Ledger.open(target, create=False) as book:
        check(book)


def _refuse_unreviewed(family_id: str, framework: str, audit_path: Path) -> str:
    """The claim run that listed the family for discretion review; ``InputError`` naming the family if none did."""
    search = find_discretion_review(audit_path, family_id, framework)
    if search.found:
        return str(search.run_id)
    unusable = ""
    if search.unusable_files:
        shown = ", ".join(search.unusable_files[:5])
        unusable = f"; {len(search.unusable_files)} of their decision files are missing or changed since: {shown}"
    raise name_subjects(InputError(
        f"family {family_id!r}: no claim run under {framework} recorded in {audit_path} decided it "
        f"'discretion_review' ({search.runs_searched} claim run(s) searched{unusable}). An approval is only used "
        "for a family under discretion review: run `tfclaims claim` (a --dry-run will do) first"
    ), family_ids=[family_id])


@ledger_app.command("withdraw")
def withdraw(
    claim_reference: Annotated[str, typer.Argument(help="The claim to withdraw, e.g. TFC-000012.", metavar="CLAIM_REFERENCE")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the claim is withdrawn.")],
    operator: OperatorOption = None,
    hold: Annotated[
        bool, typer.Option("--hold/--no-hold", help="Put the family on audit hold.")
    ] = True,
    ledger: LedgerOption = None,
    audit: AuditOption = None,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE", help="The council config file (for the reference key of the re-issued claim file).")] = None,
) -> None:
    """Withdraw a claim with a reason; the family goes on audit hold until released. The claim run
    that issued it gets its claim file, claim register and finance summary re-issued without it."""
    from tfclaims.core.config import load_config

    key = load_config(config).resolved_reference_key()
    who = operator or operator_name()
    target = _target(ledger)
    _refuse_early(target, lambda book: book.check_withdraw(claim_reference))

    def work(step: Step, record_id: str) -> tuple[list[str], list[str]]:
        with ledger_action("ledger withdraw", target, audit_path=audit, operator=who, claim_reference=claim_reference,
                           reason=reason, hold=hold, record_id=record_id) as (book, rec):
            done = step("withdraw the claim in the ledger", book.withdraw, claim_reference, reason, by=who, hold=hold)
            rec.touched(family_ids=[done.family_id])
            reissued = step("re-issue the claim files", reissue_after_withdrawal, book, rec, [done.claim_reference], key=key, by=who)
        public = [f"Withdrew claim {done.claim_reference} ({done.framework}) on {done.withdrawn_on}."] + [r.message() for r in reissued]
        lines = [f"Withdrew claim {done.claim_reference} (family {done.family_id}, {done.framework}) on {done.withdrawn_on}."]
        lines += [r.message() for r in reissued]
        if done.hold_placed:
            lines.append(f"Family {done.family_id} is on audit hold: release it with `tfclaims ledger release {done.family_id} --reason ...`.")
            public.append("The family is on audit hold.")
        return lines, public

    ledger_command("ledger withdraw", work)


@ledger_app.command("release")
def release(
    family_id: Annotated[str, typer.Argument(help="The family to release from audit hold.", metavar="FAMILY_ID")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the hold is released.")],
    framework: FrameworkOption = DEFAULT_FRAMEWORK,
    operator: OperatorOption = None,
    ledger: LedgerOption = None,
    audit: AuditOption = None,
) -> None:
    """Release a family from audit hold, so that later claim runs may claim it again."""
    who = operator or operator_name()
    target = _target(ledger)
    _refuse_early(target, lambda book: book.check_release(family_id, framework))

    def work(step: Step, record_id: str) -> tuple[list[str], list[str]]:
        with ledger_action("ledger release", target, audit_path=audit, operator=who, framework=framework, reason=reason,
                           record_id=record_id) as (book, rec):
            done = step("release the audit hold in the ledger", book.release, family_id, framework, reason, by=who)
            rec.touched(family_ids=[done.family_id])
            rec.note("released_claim_reference", done.claim_reference)
        return ([f"Released family {done.family_id} ({done.framework}) from audit hold; released by {done.released_by}."],
                [f"Released a family ({done.framework}, claim {done.claim_reference}) from audit hold; released by {done.released_by}."])

    ledger_command("ledger release", work)


@ledger_app.command("approve")
def approve(
    family_id: Annotated[str, typer.Argument(help="The family the manager decided to claim.", metavar="FAMILY_ID")],
    operator: Annotated[str, typer.Option("--operator", metavar="NAME", help="The manager who made the decision.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="The reason for the discretionary decision.")],
    framework: FrameworkOption = DEFAULT_FRAMEWORK,
    ledger: LedgerOption = None,
    audit: AuditOption = None,
) -> None:
    """Record a manager's discretionary decision: the next claim run claims the family (route discretionary).

    Only for a family that a claim run under the framework decided discretion_review.
    """
    target = _target(ledger)
    _refuse_early(target, lambda book: book.check_approve(family_id, framework), missing_ok=True)
    reviewed_in = _refuse_unreviewed(family_id, framework, audit or default_audit_path(target))

    def work(step: Step, record_id: str) -> tuple[list[str], list[str]]:
        with ledger_action("ledger approve", target, audit_path=audit, operator=operator, create=True, framework=framework,
                           reason=reason, record_id=record_id) as (book, rec):
            done = step("record the approval in the ledger", book.approve, family_id, framework, by=operator, reason=reason)
            rec.touched(family_ids=[done.family_id])
            rec.note("discretion_review_run_id", reviewed_in)
        said = f"for a discretionary claim; approved by {done.approved_by} on {done.approved_on}."
        return [f"Approved family {done.family_id} ({done.framework}) {said}"], [f"Approved a family ({done.framework}) {said}"]

    ledger_command("ledger approve", work)


@ledger_app.command("seal")
def seal_ledger(
    ledger: LedgerOption = None,
    audit: AuditOption = None,
    operator: OperatorOption = None,
) -> None:
    """Seal a ledger made before rows were sealed, once: every row gets its keyed seal (recorded in the audit trail).

    The council key (TFCLAIMS_REFERENCE_KEY, or reference_key in the workspace's council.yaml) seals it.
    Check the ledger first (`tfclaims ledger show`, the claim files): whatever it holds now is what is sealed.
    A ledger already sealed is refused, and any row without a seal in it is named.
    """
    who = operator or operator_name()

    def work(step: Step, record_id: str) -> tuple[list[str], list[str]]:
        with ledger_action("ledger seal", _target(ledger), audit_path=audit, operator=who, record_id=record_id) as (book, rec):
            counts = step("seal the ledger's rows", book.seal_rows)
            for table, n in counts.items():
                rec.note(f"sealed_{table}", n)
            target = book.target
        line = f"Sealed the ledger {target}: " + ", ".join(f"{n} {table}" for table, n in counts.items()) + "."
        return [line], [line]

    ledger_command("ledger seal", work)


@ledger_app.command("export")
def export(
    run_id: Annotated[str, typer.Option("--run-id", metavar="RUN_ID", help="The claim run whose claim file to write again.")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder for claim_file.csv.")],
    ledger: LedgerOption = None,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE", help="The council config file (for the reference key).")] = None,
    audit: AuditOption = None,
    operator: OperatorOption = None,
) -> None:
    """Write a claim run's claim file again from the ledger (the ledger is the record of what was claimed)."""
    from tfclaims.core.config import load_config
    from tfclaims.pipeline import export_claim_file

    council = load_config(config)

    def work(step: Step, record_id: str) -> tuple[list[str], list[str]]:
        path = export_claim_file(_target(ledger), run_id, out, config=council, audit_path=audit, operator=operator or operator_name(),
                                 record_id=record_id, step=step)
        return [f"claim file of run {run_id}: {path}"], [f"Wrote the claim file of run {run_id} again: {path}"]

    ledger_command("ledger export", work)
