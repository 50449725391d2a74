"""``tfclaims frameworks list|show``: the built-in outcome frameworks and their resolved rules.

``show`` prints the rules in force (with a local plan applied) in plain English, one line per rule,
each number with its source and tag, dated values with their dates; ``--json`` the resolved data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tfclaims.claim.decide import pounds_text
from tfclaims.cli import app
from tfclaims.rules.frameworks import OUTCOME_MODELS, Framework, list_frameworks, list_plans, load_framework, load_plan
from tfclaims.rules.measures import MEASURE_REGISTRY as MEASURES
from tfclaims.rules.measures import indicator_labels

frameworks_app = typer.Typer(help="The built-in outcome frameworks and their parameters.", no_args_is_help=True)
app.add_typer(frameworks_app, name="frameworks")


@frameworks_app.command("list")
def list_cmd() -> None:
    """List the built-in frameworks (name, version, title) and the local plans that ship with tfclaims."""
    for name in list_frameworks():
        fw = load_framework(name)
        typer.echo(f"{fw.name}\t{fw.version}\t{fw.title}")
    typer.echo("\nlocal plans (use with --plan NAME, or copy and adapt):")
    for name in list_plans():
        p = load_plan(name)
        assert p.plan is not None
        typer.echo(f"{name}\textends {p.name} v{p.version}\t{p.plan.source or ''}")


def render(fw: Framework) -> str:
    """The resolved rules in plain English, one line per rule, each number with its source and tag:
    what a programme manager or an auditor reads to check that the plan says what they approved."""
    base = load_framework(fw.path) if fw.plan is not None else None
    lines = _header(fw)
    lines += ["", "Programme"]
    lines += _programme(fw)
    lines += ["", "Eligibility"]
    lines += _eligibility(fw)
    for code, h in fw.headlines.items():
        lines += ["", f"{h.label} ({code})"]
        lines += _headline(fw, base, code)
    lines += ["", "Claims"]
    lines += _claims(fw)
    if fw.local_codes:
        lines += ["", "Local codes declared by the plan (rows of the local tables must carry one of these)"]
        for c in fw.local_codes:
            used = ", ".join(c.headlines) or "no headline"
            lines.append(f"  - {c.code} ({c.table}; headlines: {used}): {c.description}")
    return "\n".join(lines)


# ---- the header


def _header(fw: Framework) -> list[str]:
    if fw.plan is None:
        lines = [f"{fw.name} v{fw.version}: {fw.title}"]
    else:
        p = fw.plan
        lines = [
            f"{p.name} outcome plan v{p.version} (approved by {p.approved_by} on {p.approved_on}), "
            f"extending {fw.name} v{fw.version} ({fw.title})"
        ]
        if p.source:
            lines.append(f"  plan: {p.source}")
        lines.append(f"  plan file: {p.path} (sha256 {p.sha256})")
    lines += [f"  framework file: {fw.path} (sha256 {fw.sha256})", f"  framework source: {fw.source}"]
    if fw.epochs():
        lines.append(f"  dated parameters change value on {', '.join(map(str, fw.epochs()))}: each is shown with its dates")
    return lines


# ---- values, sources and rules that change over time


def _v(value: Any) -> str:
    """A parameter's value as the file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "blank"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_v(v) for v in value) + "]"
    return str(value)


_IN_TEXT = object()  # a value the rule's sentence already spells out: its source only


def _gbp(pence: int) -> str:
    return pounds_text(pence)


def _source(fw: Framework, path: str, value: Any, name: str | None = None) -> str:
    """``[name] value: source (tag)``; a dated parameter's every value with its dates."""
    prov = fw.provenance.get(path)
    if prov is None and isinstance(value, list | tuple) and f"{path}[0]" in fw.provenance:
        prov = fw.provenance[f"{path}[0]"]  # a list written item by item (a plan's plain list)
    label = f"{name} " if name else ""
    if prov is None:
        return f"{label}{_v(value)}: default"
    if fw.plan is not None and prov.source.startswith(f"local plan {fw.plan.name} v{fw.plan.version} (approved by"):
        prov = dataclasses.replace(prov, source="this plan")  # the heading says who approved it and when
    if prov.dated:
        values = ", ".join(f"{_v(e.value)} {e.when()}" for e in prov.dated)
        return f"{label}{values}: {prov.source} ({prov.tag})"
    if value is _IN_TEXT:
        return f"{label.strip() + ': ' if label else ''}{prov.source} ({prov.tag})"
    return f"{label}{_v(value)}: {prov.source} ({prov.tag})"


def _sources(fw: Framework, items: list[tuple[str, Any]], names: bool | None = None) -> str:
    """``[...]`` of the (path, value) pairs; a parameter is named when there are several."""
    # a blank parameter nobody set (a person filter not used) is not a number with a source
    items = [(path, value) for path, value in items if not (value is None and path not in fw.provenance)]
    if not items:
        return ""
    named = len(items) > 1 if names is None else names
    return " [" + "; ".join(_source(fw, path, value, path.rsplit(".", 1)[-1] if named else None) for path, value in items) + "]"


def _span(epochs: tuple[dt.date, ...], first: int, last: int) -> str:
    """The days of epochs ``first`` to ``last``: "to 2015-08-31", "from 2015-09-01", "from .. to ..".""" 
    start = epochs[first - 1] if first > 0 else None
    end = epochs[last] - dt.timedelta(days=1) if last < len(epochs) else None
    if start and end:
        return f"from {start} to {end}"
    if start:
        return f"from {start}"
    return f"to {end}" if end else "always"


def _over_time(fw: Framework, text: Callable[[Framework], str]) -> str:
    """``text`` of the rules in force; where a dated parameter changes it, each version with its dates."""
    epochs = fw.epochs()
    if not epochs:
        return text(fw)
    texts = [text(fw.at_epoch(i)) for i in range(len(epochs) + 1)]
    groups: list[tuple[int, int, str]] = []
    for i, t in enumerate(texts):
        if groups and groups[-1][2] == t:
            groups[-1] = (groups[-1][0], i, t)
        else:
            groups.append((i, i, t))
    if len(groups) == 1:
        return texts[0]
    return "; ".join(f"{_span(epochs, a, b)}: {t}" for a, b, t in groups)


def _rule(fw: Framework, text: Callable[[Framework], str], items: list[tuple[str, Any]], names: bool | None = None) -> str:
    return f"  - {_over_time(fw, text)}{_sources(fw, items, names)}"


def _sentence(template: str) -> str:
    """A measure's met sentence as a rule: its per-family fields in words."""
    text = re.sub(r" on \{(attached_on|closed_on)\}", "", template)
    return text.replace("{as_of}", "the as-of date").replace("{{", "{").replace("}}", "}")


# ---- the sections


def _programme(fw: Framework) -> list[str]:
    pr = fw.programme
    lines = [
        _rule(fw, lambda f: f"Families attached from {f.programme.attachments_from} to {f.programme.attachments_to} count; "
              f"claims are for period ends up to {f.programme.period_end_to}",
              [(f"programme.{k}", getattr(pr, k)) for k in ("attachments_from", "attachments_to", "period_end_to")]),
    ]
    if pr.transition_before is not None:
        lines.append(_rule(fw, lambda f: f"Families attached before {f.programme.transition_before} go to manual review (transition)",
                           [("programme.transition_before", pr.transition_before)]))
    lines.append(f"  - Outcome model: {fw.outcome_model} ({OUTCOME_MODELS.get(fw.outcome_model, fw.outcome_model)})")
    return lines


def _eligibility(fw: Framework) -> list[str]:
    e = fw.eligibility
    lines = [
        _rule(fw, lambda f: f"A family is eligible when at least {f.eligibility.min_distinct_headlines} headlines are present at its "
              "test date (for a claim, its attachment date)", [("eligibility.min_distinct_headlines", e.min_distinct_headlines)]),
        _rule(fw, lambda f: "Headlines evidenced only by non-resident parents add at most "
              f"{f.eligibility.non_resident_parent_cap} to that count", [("eligibility.non_resident_parent_cap", e.non_resident_parent_cap)]),
        _rule(fw, lambda f: "The family must have a dependent (a child or an expectant parent) at that date" if f.eligibility.require_dependent
              else "The family need not have a dependent", [("eligibility.require_dependent", e.require_dependent)]),
        _rule(fw, lambda f: f"Out-of-work benefits: {', '.join(f.out_of_work_benefits)}", [("out_of_work_benefits", _IN_TEXT)]),
        _rule(fw, lambda f: "A family's required headlines (each must be met for a claim) are those present at attachment"
              + (", those present at the as-of date" if f.required_headlines.present_at_as_of else "")
              + " and those of needs rows identified after attachment",
              [("required_headlines.present_at_as_of", fw.required_headlines.present_at_as_of)]),
    ]
    for j, x in enumerate(fw.eligibility_exclusions):  # the plan's exclusions (eligibility.exclude_when)
        items = [(f"eligibility.exclude_when.{x.code}.{k}", v) for k, v in x.params.model_dump().items()]
        lines.append(_rule(fw, lambda f, j=j: f"A family is not eligible when, at its test date, there is {_excl(f, j)}", items, names=True))
    return lines


def _excl(fw: Framework, j: int) -> str:
    x = fw.eligibility_exclusions[j]
    return f"{x.indicator.describe(x.params)} ({x.code}: {x.label})"


def _headline(fw: Framework, base: Framework | None, code: str) -> list[str]:
    h = fw.headlines[code]
    lines = ["  Identified by:"]
    base_h = base.headlines.get(code) if base is not None else None
    base_codes = {i.code for i in base_h.indicators} if base_h is not None else None
    for j, ind in enumerate(h.indicators):
        added = " (added by the plan)" if base_codes is not None and ind.code not in base_codes else ""
        prefix = f"headlines.{code}.indicators.{ind.code}"
        items = [(f"{prefix}.{k}", v) for k, v in ind.params.model_dump().items()]
        items = [(p, v) for p, v in items if not (p.endswith(".benefit_types") and p not in fw.provenance)]
        lines.append(_rule(fw, lambda f, j=j: f.headlines[code].indicators[j].indicator.describe(f.headlines[code].indicators[j].params) + added,
                           items, names=True))
    for ind in base_h.indicators if base_h is not None else ():
        prov = fw.provenance.get(f"headlines.{code}.indicators.{ind.code}")
        if ind.code not in {i.code for i in h.indicators} and prov is not None:
            lines.append(f"  - removed by the plan: {ind.indicator.describe(ind.params)} ({ind.code}) [{prov.source} ({prov.tag})]")
    lines.append("  - or a needs row of the headline open at the test date (recorded by a practitioner)" if h.indicators
                 else "  - a needs row of the headline open at the test date (recorded by a practitioner): no data indicator")
    measure = MEASURES[h.measure]
    chosen = fw.provenance.get(f"headlines.{code}.success.measure")
    head = f"  Success ({h.measure}"
    if chosen is not None and base_h is not None and chosen.tag == "L":
        was = f"; {base.name if base else ''} has {base_h.measure}" if base_h.measure != h.measure else ""
        head += f", chosen by the plan{was} [{chosen.source} ({chosen.tag})]"
    lines.append(head + "):")
    prefix = f"headlines.{code}.success"
    if measure.composite:  # any_of / all_of: one line per part, each with its own sources
        lines.append("  - " + ("any one of these:" if h.measure == "any_of" else "all of these:"))
        for i, part in enumerate(measure.alternative_specs(h)):  # type: ignore[attr-defined]
            items = [(f"{prefix}.{measure.key}[{i}].{k}", v) for k, v in part.measure_params.model_dump().items()]  # type: ignore[attr-defined]

            def words(f: Framework, i: int = i) -> str:
                p = MEASURES[f.headlines[code].measure].alternative_specs(f.headlines[code])[i]  # type: ignore[attr-defined]
                return _sentence(MEASURES[p.measure].describe(p.measure_params, labels=indicator_labels(p), headline=code).removesuffix("; any needs rows met"))

            lines.append("  " + _rule(fw, words, items, names=True))
        lines.append("  - and every needs row of the headline met")
        return lines
    items = [(f"{prefix}.{k}", v) for k, v in h.measure_params.model_dump().items()]
    lines.append(_rule(fw, lambda f: _sentence(measure.describe(f.headlines[code].measure_params, labels=indicator_labels(f.headlines[code]),
                                                                headline=code)), items, names=True))
    stated = fw.provenance.get(f"{prefix}.indicators")
    if measure.reads_indicators and h.success_indicators is not None:
        lines.append(f"  - recurrence is judged on the plan's own success indicators ({indicator_labels(h)}), not on all the identifying ones")
    elif measure.reads_indicators:
        said = f", as the plan states [{stated.source} ({stated.tag})]" if stated is not None and stated.value == "identifying" else ""
        lines.append(f"  - recurrence is judged on the identifying indicators above ({indicator_labels(h)}){said}")
    return lines


def _claims(fw: Framework) -> list[str]:
    routes = {"ssp": "significant and sustained progress: every required headline met",
              "continuous_employment": "continuous employment", "sfo": "successful family outcome: every required headline met after closure"}
    lines = [f"  - Claim routes: {'; '.join(f'{r} ({routes.get(r, r)})' for r in fw.claim_routes)}"]
    ce = fw.continuous_employment
    if ce is not None and "continuous_employment" in fw.claim_routes:
        lines.append(_rule(
            fw,
            lambda f: (f"Continuous employment: an adult on an out-of-work benefit in the {f.continuous_employment.benefit_window_months} months "
                       f"to attachment who then works {f.continuous_employment.long_weeks} weeks in a row (after "
                       f"{' or '.join(f.continuous_employment.long_weeks_benefits)}) or {f.continuous_employment.short_weeks} weeks "
                       "(after another out-of-work benefit) since attachment, with no out-of-work benefit meanwhile"),
            [(f"continuous_employment.{k}", v) for k, v in ce.model_dump().items()]))
    if fw.sfo is not None:
        lines.append(_rule(fw, lambda f: f"Outcomes are judged at least {f.sfo.sustain_after_closure_months} months after the family's case closed",
                           [("sfo.sustain_after_closure_months", fw.sfo.sustain_after_closure_months)]))
    lines.append(_rule(fw, lambda f: "Whole-family working is required: a lead practitioner, a whole-family assessment and an action plan "
                       "by the as-of date" if f.whole_family_working.required else "Whole-family working is not required",
                       [("whole_family_working.required", fw.whole_family_working.required)]))
    if fw.whole_family_working.evidence_codes:
        def evidence_words(f: Framework) -> str:
            said = [f"{c.description} ({c.code})" if (c := f.local_code(code)) else code for code in f.whole_family_working.evidence_codes]
            return "Whole-family working also needs, by the as-of date, a local_events row of the family of each of: " + "; ".join(said)

        lines.append(_rule(fw, evidence_words, [("whole_family_working.evidence_codes", fw.whole_family_working.evidence_codes)]))
    a = fw.amounts
    lines.append(_rule(fw, lambda f: f"Results payment: {_gbp(f.amounts.results_payment_pence)} per claimed family",
                       [("amounts.results_payment_pence", a.results_payment_pence)]))
    lines.append(_rule(fw, lambda f: f"Attachment fee: {_gbp(f.amounts.attachment_fee_pence)} per family attached (reported, not claimed)",
                       [("amounts.attachment_fee_pence", a.attachment_fee_pence)]))
    lines.append(_rule(fw, lambda f: f"Allocation: at most {f.allocation} families claimed in all" if f.allocation is not None
                       else "Allocation: none set here (the council config or --allocation may set one)",
                       [("allocation", fw.allocation)] if "allocation" in fw.provenance else []))
    return lines


@frameworks_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="A framework name (see `tfclaims frameworks list`) or a framework file.", metavar="NAME")],
    plan: Annotated[Path | None, typer.Option("--plan", help="A local outcome plan extending the framework.", metavar="FILE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the resolved rules as JSON.")] = False,
) -> None:
    """Print a framework's rules (with a local plan applied) in plain English, every number with its source."""
    fw = load_framework(name, plan=plan)
    if as_json:
        typer.echo(json.dumps(fw.to_dict(), indent=2, default=str))
    else:
        typer.echo(render(fw))
