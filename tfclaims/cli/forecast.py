"""``tfclaims forecast | compare-plans``: looking ahead with the claim's own rules; nothing is claimed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfclaims.claim.decide import pounds_text
from tfclaims.cli import app
from tfclaims.cli._common import execute, options_command, print_counts, print_outputs
from tfclaims.options import ComparePlansOptions, ForecastOptions


def _print_forecast(s: dict[str, Any]) -> None:
    f = s["forecast"]
    cut = f" (the programme's last period end is {f['programme_end']})" if f.get("programme_end") else ""
    print(f"\nforecast from {f['as_of']} to {f['horizon_end']}{cut}, on the data as held on {f['as_of']}: "
          f"{f['families']:,} attached families not yet claimed")
    print(f"{'claim window':<24}{'families':>10}{'amount':>16}{'claims to date':>16}")
    for w in f["windows"]:
        label = f"{w['period_end']} (now)" if w["window"].startswith("now") else w["period_end"]
        print(f"{label:<24}{w['families']:>10,}{pounds_text(w['amount_pence']):>16}{w['claims_to_date']:>16,}")
    if f.get("allocation") is not None:
        print(f"allocation: {f['allocation']:,} families")
    print(f"not claimable within the horizon: {f['not_within_horizon']:,}")
    for kind, n in sorted(f.get("near_misses", {}).items()):
        print(f"near misses, {kind}: {n:,}")
    print("A look-ahead: nothing is claimed and nothing is recorded in the ledger.")


@options_command(app, "forecast", ForecastOptions)
def forecast_command(opts: ForecastOptions) -> None:
    """When each attached family not yet claimed becomes claimable (the data as held on --as-of), what holds it back, and near misses."""
    s = execute(opts)
    print_counts(s)
    _print_forecast(s)
    print_outputs(Path(opts.out), s)


@options_command(app, "compare-plans", ComparePlansOptions)
def compare_plans_command(opts: ComparePlansOptions) -> None:
    """The families whose eligibility, outcome status or claim decision differ under a plan and its framework (or two plans), and why."""
    s = execute(opts)
    print_counts(s)
    c = s["comparison"]
    print(f"\nat {c['as_of']}: A = {c['a']}; B = {c['b']}")
    for what, n in sorted(c["families_differing"].items()):
        print(f"  families whose {what} differs: {n:,}")
    print(f"{'':<4}{'eligible':>10}{'attached':>10}{'claims':>8}{'amount':>16}")
    for t in c["totals"]:
        print(f"{t['side']:<4}{t['eligible_families']:>10,}{t['attached_families']:>10,}{t['claims']:>8,}{pounds_text(t['amount_pence']):>16}")
    print_outputs(Path(opts.out), s)
