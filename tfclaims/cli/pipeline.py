"""``tfclaims identify | track | claim | run | demo``: the pipeline's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfclaims import pipeline
from tfclaims.claim.decide import gbp_text
from tfclaims.claim.finance import decision_in_words
from tfclaims.cli import app
from tfclaims.cli._common import execute, options_command, print_counts, print_outputs, use_workspace_prefect
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.options import ClaimOptions, DemoOptions, IdentifyOptions, RunOptions, TrackOptions


def _print_claim(s: dict[str, Any]) -> None:
    plan = s["framework"].get("plan")
    with_plan = f" with local plan {plan['name']} v{plan['version']}" if plan else ""
    print(f"\nframework {s['framework']['framework']} v{s['framework']['version']}{with_plan}, period end {s['period_end']}"
          + ("  (DRY RUN: nothing recorded in the ledger)" if s.get("dry_run") else ""))
    for k, n in sorted(s["decisions"].items()):
        print(f"  {decision_in_words(k)[0]:<52}{n:>7,}")
    print(f"claims: {s['claims']:,}  total {gbp_text(s['amount_gbp'])}")
    if s.get("ledger"):
        print(f"ledger: {s['ledger']}")
    if s.get("demo_reference_key"):
        print("NOTE: made with the built-in demo reference key; not a real claim.")


def _print_spot_check(s: dict[str, Any]) -> None:
    sc = s["spot_check"]
    print(f"spot check: {sc['sampled']} sampled + {sc['discretionary']} discretionary of {sc['population']} claims, seed {sc['seed']}")


@options_command(app, "identify", IdentifyOptions)
def identify_command(opts: IdentifyOptions) -> None:
    """Eligibility of every family at a date, with the evidence: CANDIDATES for a practitioner to confirm."""
    s = execute(opts)
    print_counts(s)
    print(f"\n{s['eligible_families']} of {s['families']} families are candidates at {s['as_of']}. {pipeline.CANDIDATES_NOTE}")
    print_outputs(Path(opts.out), s)


@options_command(app, "track", TrackOptions)
def track_command(opts: TrackOptions) -> None:
    """Outcome status (met / not_met / not_yet / not_evaluated) of every attached family at a date."""
    s = execute(opts)
    print_counts(s)
    print(f"\n{s['attached_families']} attached families at {s['as_of']}: {s['ssp']} with significant and sustained progress, "
          f"{s['continuous_employment']} continuous employment, {s['sfo']} successful family outcome")
    print_outputs(Path(opts.out), s)


@options_command(app, "claim", ClaimOptions)
def claim_command(opts: ClaimOptions) -> None:
    """Claim decisions for every family in the programme register, the claim file and the finance summary."""
    s = execute(opts)
    print_counts(s)
    _print_claim(s)
    print_outputs(Path(opts.out), s)


@options_command(app, "run", RunOptions)
def run_command(opts: RunOptions) -> None:
    """The whole pipeline on a cohort: validate, link, identify, track, claim, spot-check."""
    s = execute(opts)
    print_counts(s)
    _print_claim(s)
    _print_spot_check(s)
    print_outputs(Path(opts.out), s)


@options_command(app, "demo", DemoOptions)
def demo_command(opts: DemoOptions) -> None:
    """The main job on the built-in sample cohort, into its own folder (no set-up needed)."""
    out, ws = pipeline.demo_folder(opts)
    opts.out = out
    if ws is not None:
        use_workspace_prefect(ws.prefect_home)
        print(f"workspace: {ws.root}")
    print(f"tfclaims demo: the built-in sample cohort ({SAMPLE_COHORT_DIR}), period end {pipeline.DEMO_PERIOD_END}")
    s = execute(opts)
    print_counts(s)
    _print_claim(s)
    _print_spot_check(s)
    print_outputs(out, s)
    print(f"  ledger.sqlite and audit.jsonl (the demo's own ledger and audit trail; `tfclaims audit verify --audit {out / 'audit.jsonl'}`)")
