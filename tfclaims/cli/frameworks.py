"""``tfclaims frameworks list|show``: the built-in outcome frameworks and their resolved rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tfclaims.cli import app
from tfclaims.rules.frameworks import Framework, list_frameworks, load_framework

frameworks_app = typer.Typer(help="The built-in outcome frameworks and their parameters.", no_args_is_help=True)
app.add_typer(frameworks_app, name="frameworks")


@frameworks_app.command("list")
def list_cmd() -> None:
    """List the built-in frameworks: name, version, title."""
    for name in list_frameworks():
        fw = load_framework(name)
        typer.echo(f"{fw.name}\t{fw.version}\t{fw.title}")


def render(fw: Framework) -> str:
    """The resolved rules as readable text, every parameter with its source and tag."""
    lines = [f"{fw.name} v{fw.version}: {fw.title}", f"  file: {fw.path}", f"  sha256: {fw.sha256}", f"  source: {fw.source}"]
    if fw.plan is not None:
        p = fw.plan
        lines += [f"  local plan: {p.name} v{p.version}, approved by {p.approved_by} on {p.approved_on}", f"    file: {p.path}", f"    sha256: {p.sha256}"]
    pr = fw.programme
    lines += [
        f"  outcome model: {fw.outcome_model}; claim routes: {', '.join(fw.claim_routes)}",
        f"  programme: attachments {pr.attachments_from} to {pr.attachments_to}; period ends up to {pr.period_end_to}"
        + (f"; attachments before {pr.transition_before}: manual review" if pr.transition_before else ""),
        f"  eligibility: at least {fw.eligibility.min_distinct_headlines} headlines; non-resident parents add at most "
        f"{fw.eligibility.non_resident_parent_cap}; dependent required: {fw.eligibility.require_dependent}",
        f"  required headlines include those present at the as-of date: {fw.required_headlines.present_at_as_of}",
        f"  out-of-work benefits: {', '.join(fw.out_of_work_benefits)}",
    ]
    if fw.continuous_employment:
        ce = fw.continuous_employment
        lines.append(
            f"  continuous employment: {ce.long_weeks} weeks after {'/'.join(ce.long_weeks_benefits)}, else {ce.short_weeks}; "
            f"benefit in the {ce.benefit_window_months} months to attachment"
        )
    if fw.sfo:
        lines.append(f"  successful family outcome: judged {fw.sfo.sustain_after_closure_months} months after closure")
    lines.append(
        f"  amounts: results payment {fw.amounts.results_payment_pence / 100:.2f} GBP; attachment fee "
        f"{fw.amounts.attachment_fee_pence / 100:.2f} GBP; allocation: {fw.allocation if fw.allocation is not None else 'none'}"
    )
    lines.append("  headlines:")
    for code, h in fw.headlines.items():
        lines.append(f"    {code}: {h.label}")
        for ind in h.indicators:
            lines.append(f"      indicator {ind.code}: {ind.indicator.describe(ind.params)}")
            for k, v in ind.params.model_dump().items():
                prov = fw.provenance.get(f"headlines.{code}.indicators.{ind.code}.{k}")
                note = f"  [{prov.tag}] {prov.source}" if prov else "  [default]"
                lines.append(f"        {k} = {list(v) if isinstance(v, tuple) else v}{note}")
        if not h.indicators:
            lines.append("      (needs rows only)")
        lines.append(f"      success: {h.measure}")
        for k, v in h.measure_params.model_dump().items():
            prov = fw.provenance.get(f"headlines.{code}.success.{k}")
            note = f"  [{prov.tag}] {prov.source}" if prov else "  [default]"
            lines.append(f"        {k} = {v}{note}")
    lines.append("  parameter sources:")
    for path, prov in sorted(fw.provenance.items()):
        if path.startswith("headlines."):
            continue
        lines.append(f"    {path} = {prov.value}  [{prov.tag}] {prov.source}")
    return "\n".join(lines)


@frameworks_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="A framework name (see `tfclaims frameworks list`) or a framework file.", metavar="NAME")],
    plan: Annotated[Path | None, typer.Option("--plan", help="A local outcome plan extending the framework.", metavar="FILE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the resolved rules as JSON.")] = False,
) -> None:
    """Print a framework's resolved rules (with a local plan applied), every parameter with its source."""
    fw = load_framework(name, plan=plan)
    if as_json:
        typer.echo(json.dumps(fw.to_dict(), indent=2, default=str))
    else:
        typer.echo(render(fw))
