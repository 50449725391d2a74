"""``tfclaims spot-check`` and ``tfclaims reconcile``: the internal-audit sample and the auditor's verdicts."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfclaims.cli import app
from tfclaims.core.errors import InputError
from tfclaims.cli._common import AuditOpt, ConfigOpt, OperatorOpt
from tfclaims.core.config import load_config
from tfclaims.core.orchestration import use_prefect
from tfclaims.pipeline import SampleOptions, audit_context, new_run_id, spot_check
from tfclaims.spot_check import (
    DEFAULT_MIN,
    DEFAULT_RATE,
    read_verdicts,
    reconcile,
    write_reconciliation,
)


@app.command("spot-check")
def spot_check_command(
    claim_dir: Annotated[Path, typer.Option("--claim-dir", help="The output folder of a claim run (claim_register.csv and the evidence).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for spot_check_sample.csv and spot_check.xlsx.")],
    rate: Annotated[float, typer.Option("--rate", help="Share of the run's claims to sample (0 < R <= 1).")] = DEFAULT_RATE,
    min_n: Annotated[int, typer.Option("--min", help="Smallest sample (all claims if the run has fewer).")] = DEFAULT_MIN,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the draw; drawn at random, printed and recorded if not given.")] = None,
    config: ConfigOpt = None,
    audit: AuditOpt = None,
    operator: OperatorOpt = None,
) -> None:
    """Draw the internal-audit sample of a claim run and write the auditor's workbook."""
    run_id = new_run_id()
    if use_prefect():
        from tfclaims.flows.spot_check import spot_check_flow

        facts = spot_check_flow(claim_dir, out, run_id, rate, min_n, seed, config, audit, operator)
    else:
        facts = spot_check(claim_dir, out, SampleOptions(rate, min_n, seed), config=load_config(config), audit_path=audit,
                           operator=operator, run_id=run_id)
    how = "drawn at random" if facts["seed_generated"] else "given"
    print(f"seed: {facts['seed']} ({how}; recorded in the workbook, sheet Method, and in the audit trail)")
    print(f"population: {facts['population']} claims; sample: {facts['sampled']} drawn"
          f" + {facts['discretionary']} discretionary = {facts['sampled'] + facts['discretionary']} to check")
    print(f"reproduce with: {facts['reproduce']}")
    print(f"auditor workbook: {facts['workbook']}")
    print(f"sample: {Path(out) / 'spot_check_sample.csv'}")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return ""


@app.command("reconcile")
def reconcile_command(
    verdicts: Annotated[Path, typer.Option("--verdicts", help="The auditor's completed spot_check.xlsx.")],
    ledger: Annotated[str, typer.Option("--ledger", help="The claims ledger (SQLite file or postgresql:// URL).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for reconciliation.csv and reconciliation.json.")],
    by: Annotated[Optional[str], typer.Option("--by", help="Who applies the verdicts (default: your user name).")] = None,
    audit: AuditOpt = None,
) -> None:
    """Read the auditor's verdicts back: record them in the ledger and withdraw invalid claims."""
    from tfclaims.claim.ledger import Ledger  # the ledger is only needed here

    table = read_verdicts(verdicts)  # every problem is an InputError naming its cell; nothing written yet
    who = (by or _os_user()).strip()
    if not who:
        raise InputError("--by: give the name of the person applying the verdicts")
    with Ledger.open(ledger, create=False) as book:
        with audit_context("reconcile", {"verdicts": str(verdicts), "ledger": ledger, "out": str(out)}, audit_path=audit,
                           operator=who, ledger=book) as rec:
            rec.input(verdicts, rows=len(table))
            rec.touched(family_ids=table["family_id"].dropna())
            result = reconcile(table, book, who)
            csv_path, json_path = write_reconciliation(result, out)
            rec.output(csv_path)
            rec.output(json_path)
    print(result.text())
    print(f"reconciliation: {csv_path}")
    print(f"summary: {json_path}")
