"""``tfclaims spot-check`` and ``tfclaims reconcile``: the internal-audit sample and the auditor's verdicts."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfclaims.cli import app
from tfclaims.errors import InputError
from tfclaims.spot_check import (
    DEFAULT_MIN,
    DEFAULT_RATE,
    read_verdicts,
    reconcile,
    run_spot_check,
    write_reconciliation,
)


@app.command("spot-check")
def spot_check_command(
    claim_dir: Annotated[Path, typer.Option("--claim-dir", help="The output folder of a claim run (claim_register.csv and the evidence).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for spot_check_sample.csv and spot_check.xlsx.")],
    rate: Annotated[float, typer.Option("--rate", help="Share of the run's claims to sample (0 < R <= 1).")] = DEFAULT_RATE,
    min_n: Annotated[int, typer.Option("--min", help="Smallest sample (all claims if the run has fewer).")] = DEFAULT_MIN,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the draw; drawn at random, printed and recorded if not given.")] = None,
) -> None:
    """Draw the internal-audit sample of a claim run and write the auditor's workbook."""
    run = run_spot_check(claim_dir, out, rate=rate, min_n=min_n, seed=seed)
    s = run.sample
    how = "drawn at random" if s.seed_generated else "given"
    print(f"seed: {s.seed} ({how}; recorded in {run.workbook.name}, sheet Method)")
    print(
        f"population: {s.population_size} claims; sample: {s.sample_size} drawn"
        f" + {s.discretionary_count} discretionary = {s.total} to check"
    )
    for r in s.strata.itertuples():
        print(f"  {r.stratum:<24}{r.population:>6} claims{r.drawn:>6} sampled")
    print(f"reproduce with: {run.command}")
    print(f"auditor workbook: {run.workbook}")
    print(f"sample: {run.sample_csv}")


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
) -> None:
    """Read the auditor's verdicts back: record them in the ledger and withdraw invalid claims."""
    from tfclaims.ledger import Ledger  # the ledger is only needed here

    table = read_verdicts(verdicts)  # every problem is an InputError naming its cell; nothing written yet
    who = (by or _os_user()).strip()
    if not who:
        raise InputError("--by: give the name of the person applying the verdicts")
    with Ledger.open(ledger, create=False) as book:
        result = reconcile(table, book, who)
    csv_path, json_path = write_reconciliation(result, out)
    print(result.text())
    print(f"reconciliation: {csv_path}")
    print(f"summary: {json_path}")
