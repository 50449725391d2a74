"""``tfclaims identify | track | claim | run | demo``: the pipeline's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tfclaims.cli import app
from tfclaims.cli._common import (
    AuditOpt, ConfigOpt, FrameworkOpt, InputOpt, LinkDecisionsOpt, OperatorOpt, OutOpt, PlanOpt, StrictOpt,
    parse_date, print_counts, print_outputs, resolve_out,
)
from tfclaims.core.config import load_config
from tfclaims.core.orchestration import use_prefect
from tfclaims.core.workspace import require_workspace
from tfclaims import pipeline

AsOfOpt = Annotated[str, typer.Option("--as-of", help="The date of the judgement (YYYY-MM-DD).")]
PeriodEndOpt = Annotated[str, typer.Option("--period-end", help="The claim window's period end (YYYY-MM-DD).")]
AllocationOpt = Annotated[Optional[int], typer.Option("--allocation", help="How many families the council may claim for in all (claims beyond it are not made).")]
WindowStartOpt = Annotated[Optional[str], typer.Option("--window-start", help="The claim window opens the day after this date, for the attachments counted in the finance summary (default: the last claim run's period end).")]


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "run_summary.json").read_text(encoding="utf-8"))


def _opts(input: Path, out: Path, config: Path | None, framework: str | None, plan: Path | None, audit: Path | None,
          operator: str | None, strict: bool, link_decisions: Path | None, run_id: str) -> pipeline.Options:
    return pipeline.Options(input, out, load_config(config), framework, plan, audit, operator, strict, link_decisions, run_id)


def _print_claim(s: dict[str, Any]) -> None:
    print(f"\nframework {s['framework']['framework']} v{s['framework']['version']}, period end {s['period_end']}"
          + ("  (DRY RUN: nothing recorded in the ledger)" if s.get("dry_run") else ""))
    for k, n in sorted(s["decisions"].items()):
        print(f"  {k:<45}{n:>6}")
    print(f"claims: {s['claims']}  total GBP {s['amount_gbp']}")
    if s.get("demo_reference_key"):
        print("NOTE: made with the built-in demo reference key; not a real claim.")


def _at_date(command: str, input: Path, as_of: str, out: Path | None, framework: str | None, plan: Path | None,
             config: Path | None, audit: Path | None, operator: str | None, link_decisions: Path | None) -> dict[str, Any]:
    """Run ``identify`` or ``track`` (as a Prefect flow unless switched off) and return its run summary."""
    when = parse_date(as_of, "--as-of")
    run_id = pipeline.new_run_id()
    out = resolve_out(out, run_id)
    if use_prefect():
        import importlib

        flow = getattr(importlib.import_module(f"flows.{command}"), f"{command}_flow")
        flow(input, out, when, run_id, framework, plan, config, audit, operator, link_decisions)
    else:
        getattr(pipeline, command)(_opts(input, out, config, framework, plan, audit, operator, False, link_decisions, run_id), when)
    s = _summary(out)
    print_counts(s["tables"])
    return s


@app.command("identify")
def identify_command(input: InputOpt, as_of: AsOfOpt, out: OutOpt = None, framework: FrameworkOpt = None, plan: PlanOpt = None,
                     config: ConfigOpt = None, audit: AuditOpt = None, operator: OperatorOpt = None,
                     link_decisions: LinkDecisionsOpt = None) -> None:
    """Eligibility of every family at a date, with the evidence: CANDIDATES for a practitioner to confirm."""
    s = _at_date("identify", input, as_of, out, framework, plan, config, audit, operator, link_decisions)
    print(f"\n{s['eligible_families']} of {s['families']} families are candidates at {s['as_of']}. {pipeline.CANDIDATES_NOTE}")
    print_outputs(Path(s["parameters"]["out"]), s)


@app.command("track")
def track_command(input: InputOpt, as_of: AsOfOpt, out: OutOpt = None, framework: FrameworkOpt = None, plan: PlanOpt = None,
                  config: ConfigOpt = None, audit: AuditOpt = None, operator: OperatorOpt = None,
                  link_decisions: LinkDecisionsOpt = None) -> None:
    """Outcome status (met / not_met / not_yet / not_evaluated) of every attached family at a date."""
    s = _at_date("track", input, as_of, out, framework, plan, config, audit, operator, link_decisions)
    print(f"\n{s['attached_families']} attached families at {s['as_of']}: {s['ssp']} with significant and sustained progress, "
          f"{s['continuous_employment']} continuous employment, {s['sfo']} successful family outcome")
    print_outputs(Path(s["parameters"]["out"]), s)


@app.command("claim")
def claim_command(input: InputOpt, period_end: PeriodEndOpt,
                  ledger: Annotated[Optional[str], typer.Option("--ledger", help="The claims ledger: a SQLite file or a postgresql:// URL.")] = None,
                  out: OutOpt = None, framework: FrameworkOpt = None, plan: PlanOpt = None, allocation: AllocationOpt = None,
                  dry_run: Annotated[bool, typer.Option("--dry-run", help="Write the decisions and files; record nothing in the ledger.")] = False,
                  config: ConfigOpt = None, audit: AuditOpt = None, operator: OperatorOpt = None, strict: StrictOpt = False,
                  link_decisions: LinkDecisionsOpt = None, window_start: WindowStartOpt = None) -> None:
    """Claim decisions for every family in the programme register, the claim file and the finance summary."""
    when = parse_date(period_end, "--period-end")
    since = parse_date(window_start, "--window-start") if window_start else None
    run_id = pipeline.new_run_id()
    out = resolve_out(out, run_id)
    opts = _opts(input, out, config, framework, plan, audit, operator, strict, link_decisions, run_id)
    pipeline._reference_key(opts, pipeline.ClaimOptions(when, ledger))  # refuse before any work without a key
    if use_prefect():
        from tfclaims.flows.claim import claim_flow

        claim_flow(input, out, when, run_id, ledger, framework, plan, allocation, dry_run, config, audit, operator, strict, link_decisions, since)
    else:
        pipeline.claim(opts, pipeline.ClaimOptions(when, ledger, allocation, dry_run, since))
    s = _summary(out)
    print_counts(s["tables"])
    _print_claim(s)
    print_outputs(out, s)


SampleRateOpt = Annotated[Optional[float], typer.Option("--sample-rate", help="Share of claims sampled for internal audit (default 0.10).")]
SampleMinOpt = Annotated[Optional[int], typer.Option("--sample-min", help="Smallest spot-check sample (default 5).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Seed of the spot-check draw (drawn and recorded if not given).")]


@app.command("run")
def run_command(input: InputOpt, period_end: PeriodEndOpt, out: OutOpt = None, framework: FrameworkOpt = None, plan: PlanOpt = None,
                ledger: Annotated[Optional[str], typer.Option("--ledger", help="The claims ledger (default reports/ledger.sqlite).")] = None,
                allocation: AllocationOpt = None, sample_rate: SampleRateOpt = None, sample_min: SampleMinOpt = None, seed: SeedOpt = None,
                dry_run: Annotated[bool, typer.Option("--dry-run", help="Record nothing in the ledger.")] = False,
                strict: StrictOpt = False, config: ConfigOpt = None, audit: AuditOpt = None, operator: OperatorOpt = None,
                link_decisions: LinkDecisionsOpt = None, window_start: WindowStartOpt = None) -> None:
    """The whole pipeline on a cohort: validate, link, identify, track, claim, spot-check."""
    when = parse_date(period_end, "--period-end")
    since = parse_date(window_start, "--window-start") if window_start else None
    run_id = pipeline.new_run_id()
    out = resolve_out(out, run_id)
    ledger = ledger or str(require_workspace().ledger)
    opts = _opts(input, out, config, framework, plan, audit, operator, strict, link_decisions, run_id)
    pipeline._reference_key(opts, pipeline.ClaimOptions(when, ledger))
    if use_prefect():
        from tfclaims.flows.claim import run_flow

        run_flow(input, out, when, run_id, ledger, framework, plan, allocation, dry_run, sample_rate, sample_min, seed,
                 config, audit, operator, strict, link_decisions, since)
    else:
        pipeline.run(opts, pipeline.ClaimOptions(when, ledger, allocation, dry_run, since), pipeline.SampleOptions(sample_rate, sample_min, seed))
    s = _summary(out)
    print_counts(s["tables"])
    _print_claim(s)
    sc = s["spot_check"]
    print(f"spot check: {sc['sampled']} sampled + {sc['discretionary']} discretionary of {sc['population']} claims, seed {sc['seed']}")
    print_outputs(out, s)


@app.command("demo")
def demo_command(out: OutOpt = None, operator: OperatorOpt = None) -> None:
    """The main job on the built-in sample cohort (data/sample/), into reports/demo/."""
    out = out or require_workspace().reports_dir / "demo"
    print(f"tfclaims demo: the built-in sample cohort ({pipeline.SAMPLE_COHORT_DIR}), period end {pipeline.DEMO_PERIOD_END}")
    if use_prefect():
        from tfclaims.flows.claim import demo_flow

        demo_flow(out, operator)
    else:
        pipeline.demo(out, operator=operator)
    s = _summary(out)
    print_counts(s["tables"])
    _print_claim(s)
    sc = s["spot_check"]
    print(f"spot check: {sc['sampled']} sampled + {sc['discretionary']} discretionary of {sc['population']} claims, seed {sc['seed']}")
    print_outputs(out, s)
    print(f"  ledger.sqlite and audit.jsonl (the demo's own ledger and audit trail; `tfclaims audit verify --audit {out / 'audit.jsonl'}`)")
