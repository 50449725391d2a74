"""What a run shows in the Prefect UI: its artifacts, made from its run summary.

Pure functions from a run summary (``run_summary.json``'s dict) to the content of Prefect
artifacts; ``flows/`` publishes them. Every artifact has a key that is the same for every run of a
command (``tfclaims-claim-summary``, ...), so the UI's Artifacts page keeps each one's history across
runs. They hold counts, money, reasons in words, pseudonymous claim references and paths, never a
value read from the cohort (no name, date of birth, address or council id of a person or family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfclaims.claim.decide import gbp_text, pounds_text
from tfclaims.claim.finance import decision_in_words
from tfclaims.core import run_files

__all__ = ["RunArtifacts", "artifact_key", "ledger_artifacts", "reconcile_artifacts", "run_artifacts", "spot_check_artifacts",
           "summary_artifacts"]


@dataclass(frozen=True)
class RunArtifacts:
    markdown_key: str
    markdown: str
    tables: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)  # key -> (description, rows)
    links: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> (description, link, link text)


def artifact_key(command: str, what: str) -> str:
    """``tfclaims-<command>-<what>``: lowercase letters, digits and dashes, as Prefect's keys must be."""
    key = f"tfclaims-{command}-{what}".lower().replace("_", "-").replace(" ", "-")
    return "".join(c for c in key if c.isalnum() or c == "-")


def _decision_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, n in sorted((summary.get("decisions") or {}).items()):
        words, decision, code = decision_in_words(key)
        rows.append({"decision": words, "decision_code": decision, "reason_code": code, "families": int(n)})
    return rows


def _route_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    routes = (summary.get("finance_summary") or {}).get("routes") or []
    return [{"route": r["route"], "route_code": r["code"], "claims": int(r["claims"]),
             "amount": pounds_text(int(r["amount_pence"])), "amount_pence": int(r["amount_pence"])} for r in routes]


def _count_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"table": t, "read": int(c["read"]), "accepted": int(c["accepted"]), "quarantined": int(c["quarantined"]),
             "unmatched": int(c.get("unmatched", 0))} for t, c in (summary.get("tables") or {}).items()]


def _md_table(rows: list[dict[str, Any]], columns: list[str], headers: list[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in columns) + " |")
    return "\n".join(lines)


def _markdown(command: str, summary: dict[str, Any], out: Path, counts: list[dict[str, Any]],
              decisions: list[dict[str, Any]], routes: list[dict[str, Any]]) -> str:
    parts = [f"# tfclaims {command}: run {summary.get('run_id', '')}"]
    fc, cmp_ = summary.get("forecast"), summary.get("comparison")
    fw = summary.get("framework") or {}
    facts = []
    if fw:
        facts.append(f"Framework **{fw.get('framework')}** version {fw.get('version')}")
    for label, key in (("period end", "period_end"), ("as of", "as_of")):
        if summary.get(key):
            facts.append(f"{label} **{summary[key]}**")
    if summary.get("dry_run"):
        facts.append("**dry run: nothing recorded in the ledger**")
    if facts:
        parts.append(", ".join(facts) + ".")
    if counts:
        read = sum(r["read"] for r in counts)
        quarantined = sum(r["quarantined"] for r in counts)
        parts.append(f"## What was read\n\n{read:,} rows read; {read - quarantined:,} accepted and {quarantined:,} quarantined "
                     f"(each quarantined row is listed with its file, sheet, row and reason in {run_files.VALIDATION_ERRORS_CSV}).\n\n"
                     + _md_table(counts, ["table", "read", "accepted", "quarantined", "unmatched"],
                                 ["Table", "Read", "Accepted", "Quarantined", "Unmatched"]))
    if fc:
        parts.append(f"## Forecast\n\nFrom {fc['as_of']} to {fc['horizon_end']} on the data as held on {fc['as_of']}: {fc['families']:,} attached "
                     f"families not yet claimed; {fc['claimable_now']:,} claimable now, {fc['claimable_later']:,} later within the horizon, "
                     f"{fc['not_within_horizon']:,} not within it. Nothing is claimed.")
    if cmp_:
        parts.append(f"## Comparing the rules\n\nA: {cmp_['a']}. B: {cmp_['b']}. Families that differ: "
                     + (", ".join(f"{k} {v:,}" for k, v in cmp_["families_differing"].items()) or "none") + ".")
    if "eligible_families" in summary:
        parts.append(f"## Eligibility\n\n{summary['eligible_families']:,} of {summary.get('families', 0):,} families are candidates "
                     "for a practitioner to confirm.")
    if decisions:
        parts.append("## Decisions\n\n" + _md_table(decisions, ["decision", "families"], ["Decision", "Families"]))
    if "claims" in summary:
        parts.append(f"## Claims\n\n**{summary['claims']:,} claims, {gbp_text(summary.get('amount_gbp'))}**"
                     + (" (made with the built-in demo reference key: not a real claim)" if summary.get("demo_reference_key") else "")
                     + (".\n\n" + _md_table(routes, ["route", "claims", "amount"], ["Route", "Claims", "Amount"]) if routes else "."))
    sc = summary.get("spot_check")
    if sc:
        parts.append(f"## Spot check\n\n{sc['sampled']:,} claims sampled and {sc['discretionary']:,} discretionary of "
                     f"{sc['population']:,} claims (seed {sc['seed']}), in {run_files.SPOT_CHECK_XLSX} for internal audit.")
    rc = summary.get("reconciliation")
    if rc:
        parts.append("## Reconciliation\n\n" + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in rc.items()
                                                          if isinstance(v, int | str)) + ".")
    outputs = [f["name"] for f in summary.get("outputs", []) if not f["name"].startswith("accepted/")]
    if outputs:
        parts.append(f"## Outputs\n\nIn `{out}`:\n\n" + "\n".join(f"- {n}" for n in outputs))
    for f in summary.get("csv_only", []):
        parts.append(f"No {f['workbook']}: {f['rows']:,} rows are more than a workbook for people holds; the table is in {f['name']}.")
    return "\n\n".join(parts) + "\n"


def run_artifacts(command: str, summary: dict[str, Any], out: Path | None) -> RunArtifacts:
    """The artifacts of one run of ``command``: a summary in plain English, its tables, and a link to
    the run folder (and its report, when the run wrote one)."""
    counts, decisions, routes = _count_rows(summary), _decision_rows(summary), _route_rows(summary)
    where = Path(out) if out is not None else Path(".")
    tables: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    if counts:
        tables[artifact_key(command, "table-counts")] = ("Rows read, accepted, quarantined and unmatched per table", counts)
    if decisions:
        tables[artifact_key(command, "decisions")] = ("Families by claim decision and reason", decisions)
    if routes:
        tables[artifact_key(command, "claims-by-route")] = ("Claims and amount by route", routes)
    fc = summary.get("forecast")
    if fc and fc.get("windows"):  # tfclaims forecast: counts and money per claim window, never a family id
        tables[artifact_key(command, "claim-windows")] = ("Families becoming claimable per claim window (a look-ahead: nothing claimed)", [
            {"period_end": w["period_end"], "families": int(w["families"]), "amount": pounds_text(int(w["amount_pence"])),
             "amount_pence": int(w["amount_pence"]), "claims_to_date": int(w["claims_to_date"])} for w in fc["windows"]])
    cmp_ = summary.get("comparison")
    if cmp_:
        tables[artifact_key(command, "totals")] = ("Totals under rules A and B", [
            {"side": t["side"], "rules": t["rules"], "eligible_families": t["eligible_families"], "claims": t["claims"],
             "amount": pounds_text(int(t["amount_pence"]))} for t in cmp_["totals"]])
    links: dict[str, tuple[str, str, str]] = {}
    if out is not None:
        folder = where.resolve()
        links[artifact_key(command, "run-folder")] = ("The run's folder of outputs", folder.as_uri(), f"Run folder {folder.name}")
        report = folder / run_files.REPORT_HTML
        if report.exists():
            links[artifact_key(command, "report")] = ("The run report", report.as_uri(), "Run report")
    return RunArtifacts(artifact_key(command, "summary"), _markdown(command, summary, where, counts, decisions, routes), tables, links)


def summary_artifacts(opts: Any) -> Callable[[dict[str, Any]], RunArtifacts]:
    """For a command whose result is its run summary: its artifacts, from that summary."""
    return lambda summary: run_artifacts(opts.command, summary, opts.out)


def spot_check_artifacts(opts: Any) -> Callable[[dict[str, Any]], RunArtifacts]:
    """``tfclaims spot-check``: the sample's counts and where the auditor's workbook is."""
    return lambda facts: run_artifacts(opts.command, {"run_id": opts.run_id, "spot_check": facts}, opts.out)


def reconcile_artifacts(opts: Any) -> Callable[[tuple[Any, ...]], RunArtifacts]:
    """``tfclaims reconcile``: the verdicts counted, the claims withdrawn (by claim reference) and
    whether the claim may go forward; never the auditor's notes or a family id."""

    def make(result: tuple[Any, ...]) -> RunArtifacts:
        rec, reissued = result[0], result[-1]
        counts = dict(rec.counts)
        facts: dict[str, Any] = {**counts, "withdrawn now": ", ".join(rec.withdrawn_now) or "none",
                                 "open queries": len(rec.open_queries),
                                 "may the claim go forward": "yes" if rec.may_go_forward else "no"}
        if rec.error_rate is not None:
            facts["sample error rate"] = f"{rec.error_rate:.1%}"
        summary = {"run_id": opts.run_id, "reconciliation": facts,
                   "outputs": [{"name": Path(p).name} for p in result[1:3]] + [{"name": n} for r in reissued for n in r.written]}
        arts = run_artifacts(opts.command, summary, opts.out)
        rows = [{"verdict": k, "claims": int(v)} for k, v in counts.items() if k != "sampled"]
        return RunArtifacts(arts.markdown_key, arts.markdown, {artifact_key(opts.command, "verdicts"): ("Sampled claims by verdict", rows)},
                            arts.links)

    return make


def ledger_artifacts(command: str, run_id: str, lines: list[str]) -> RunArtifacts:
    """A ledger action (withdraw, release, approve, export): what it did, in the words the command
    printed, with family ids left out (the audit trail keeps them, hashed)."""
    what = command.removeprefix("ledger ").replace(" ", "-")
    body = "\n".join(f"- {line}" for line in lines)
    return RunArtifacts(artifact_key("ledger", f"{what}-summary"), f"# tfclaims {command}: run {run_id}\n\n{body}\n")
