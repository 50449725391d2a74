"""Many councils, one claim window: the councils file, each council's run, the consortium's summary.

A regional consortium runs ``tfclaims run`` for each of its councils for the same period end. The
council is the unit: its own workspace (``tfclaims init``), council config, reference key, cohort,
run folder and ledger. This module is plain Python (testable without Prefect):

- ``load_councils`` reads and checks ``COUNCILS.yaml`` (every problem names the file, the council and
  the key; exit 2 before anything runs);
- ``prepare`` turns the options and the file into one ``CouncilJob`` per council to run (paths and
  options only: this is all that crosses to another process), after building and checking each
  council's own ``RunOptions`` here, and decides the consortium's output folder (and, with
  ``--resume``, which councils to run again);
- ``run_council`` runs one council (in whatever process it lands in) with that council's workspace
  and reference key set for that run only, and returns a small dict (paths and seconds);
- ``execute`` runs the jobs with a runner (one after another here, or the Prefect engines of
  ``tfclaims.flows.consortium``), reads each council's ``run_summary.json`` back, and writes
  ``consortium_summary.json`` and ``consortium_report.html`` (counts, money and reasons only: no
  personal data).

A council that fails (bad input, an exception, a crashed process) does not stop the others; its
error is recorded and ``--resume`` runs only the councils that did not succeed.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

import tfclaims
from tfclaims.claim.decide import gbp_text
from tfclaims.claim.finance import decision_in_words
from tfclaims.core import run_files
from tfclaims.core.config import GSS_CODE_PATTERN, REFERENCE_KEY_ENV, load_config
from tfclaims.core.errors import ConfigError, InputError
from tfclaims.core.resources import safe_yaml
from tfclaims.core.workspace import HOME_ENV, find_workspace, is_workspace
from tfclaims.core.write import atomic_write, write_json
from tfclaims.options import ConsortiumOptions, RunOptions

__all__ = [
    "CouncilEntry", "CouncilsFile", "CouncilJob", "Plan", "Runner", "SUMMARY_JSON", "REPORT_HTML", "load_councils", "prepare",
    "council_environment", "council_options", "run_council", "run_sequential", "execute", "terminal_table", "council_run_id",
]

SUMMARY_JSON = "consortium_summary.json"
RECORDED_RUN_JSON = "recorded_run.json"  # in a council's run folder: its claim was already made by this earlier run
REPORT_HTML = "consortium_report.html"
ERROR_CHARS = 500  # a failed council's error as recorded: its first line, cut to this length

# A runner runs the jobs and returns, per job in the same order, {"code", "error" (None on success), "wall_seconds"}.
Runner = Callable[[list["CouncilJob"]], list[dict[str, Any]]]


class CouncilEntry(BaseModel):
    """One council of ``COUNCILS.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: StrictStr = Field(pattern=GSS_CODE_PATTERN, description="the council's GSS code, e.g. E10000002")
    workspace: StrictStr = Field(min_length=1, description="the council's workspace folder (relative to COUNCILS.yaml)")
    input: StrictStr = Field(min_length=1, description="the council's cohort (relative to COUNCILS.yaml)")
    memory: StrictStr | None = Field(None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)?$",
                                     description="the Kubernetes memory request of this council's job, e.g. 4Gi")
    reference_key_env: StrictStr | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                                description="the environment variable holding this council's reference key")


class CouncilsFile(BaseModel):
    """``COUNCILS.yaml``: the councils of one consortium run, and optionally one ledger shared by all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ledger: StrictStr | None = None
    councils: list[CouncilEntry] = Field(min_length=1)


class CouncilJob(BaseModel):
    """One council's run as it crosses to the process that runs it: paths, dates and options only
    (never a frame, never the reference key: only the name of the variable that holds it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    run_id: str
    workspace: str
    input: str
    period_end: str
    out: str
    ledger: str = ""
    operator: str = ""
    seed: int | None = None
    dry_run: bool = False
    reference_key_env: str = ""
    memory: str = ""

    def option_values(self) -> dict[str, Any]:
        """The council's ``tfclaims run`` options, by option name (``RunOptions.of``)."""
        council_yaml = Path(self.workspace) / "council.yaml"
        return {"run_id": self.run_id, "--input": self.input, "--period-end": self.period_end, "--out": self.out,
                "--ledger": self.ledger or None, "--operator": self.operator or None, "--seed": self.seed, "--dry-run": self.dry_run,
                "--config": str(council_yaml) if council_yaml.is_file() else None}


def council_run_id(invocation_id: str, code: str) -> str:
    """A council's run id in a consortium run: the consortium run's id and the council's code."""
    return f"{invocation_id}-{code}"


# ---------------------------------------------------------------------------------------- the file


def _where(path: Path, raw: Any, loc: tuple[Any, ...]) -> str:
    """``COUNCILS.yaml: councils[1] (E10000002).workspace`` for a pydantic error location."""
    out, i = "", 0
    while i < len(loc):
        part = loc[i]
        if part == "councils" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            n = loc[i + 1]
            code = ""
            try:
                code = raw["councils"][n].get("code") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
            out += f"councils[{n}]" + (f" ({code})" if isinstance(code, str) and code else "")
            i += 2
        else:
            out += ("." if out else "") + str(part)
            i += 1
    return f"{path}: {out or '(top level)'}"


def load_councils(path: Path) -> tuple[CouncilsFile, dict[str, tuple[Path, Path]]]:
    """The councils file, checked: the model (unknown keys are errors), unique codes, every workspace
    a tfclaims workspace, every input there, a shared ledger a PostgreSQL URL. Returns the file and
    each council's (workspace, input) as absolute paths; every problem at once in one ``ConfigError``."""
    try:
        raw = safe_yaml(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the councils file: {exc}") from exc
    try:
        model = CouncilsFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ConfigError("; ".join(f"{_where(path, raw, tuple(e['loc']))}: {_text(e)}" for e in exc.errors())) from None
    problems: list[str] = []
    base = path.parent
    seen: dict[str, int] = {}
    paths: dict[str, tuple[Path, Path]] = {}
    for n, c in enumerate(model.councils):
        where = f"{path}: councils[{n}] ({c.code})"
        if c.code in seen:
            problems.append(f"{where}.code: the same code as councils[{seen[c.code]}]; each council once")
            continue
        seen[c.code] = n
        ws = (base / c.workspace).expanduser().resolve()
        cohort = (base / c.input).expanduser().resolve()
        if not ws.is_dir():
            problems.append(f"{where}.workspace: no such folder ({ws})")
        elif not is_workspace(ws):
            problems.append(f"{where}.workspace: {ws} is not a tfclaims workspace (no tfclaims.toml); make one with `tfclaims init {ws}`")
        if not cohort.exists():
            problems.append(f"{where}.input: no such file or folder ({cohort})")
        if c.reference_key_env and not os.environ.get(c.reference_key_env):
            problems.append(f"{where}.reference_key_env: the environment variable {c.reference_key_env} is not set")
        paths[c.code] = (ws, cohort)
    if model.ledger is not None and not model.ledger.startswith(("postgresql://", "postgresql+psycopg://")):
        problems.append(f"{path}: ledger: {model.ledger!r}: a shared ledger is a postgresql:// URL (each council in its own schema); "
                        "leave it out for each council's own workspace ledger")
    if problems:
        raise ConfigError("; ".join(problems))
    return model, paths


def _text(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "is required"
    if err["type"] == "string_pattern_mismatch":
        return f"{err.get('input')!r} does not match {err['ctx']['pattern']}"
    if err["type"] == "string_type":
        return f"{err.get('input')!r}: give text"
    return str(err["msg"])


# ---------------------------------------------------------------------------------------- one council


@contextmanager
def council_environment(job: CouncilJob) -> Iterator[None]:
    """The council's workspace (``TFCLAIMS_HOME``) and reference key (``TFCLAIMS_REFERENCE_KEY``,
    from the variable the councils file names, else none: the council config's key) for this
    council's run only; the process's own values come back afterwards."""
    saved = {k: os.environ.get(k) for k in (HOME_ENV, REFERENCE_KEY_ENV)}
    os.environ[HOME_ENV] = job.workspace
    key = os.environ.get(job.reference_key_env) if job.reference_key_env else None
    if key:
        os.environ[REFERENCE_KEY_ENV] = key
    else:
        os.environ.pop(REFERENCE_KEY_ENV, None)  # never another council's (or the operator's) key
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def council_options(job: CouncilJob) -> RunOptions:
    """The council's ``RunOptions`` (built inside ``council_environment``): every check of ``tfclaims run``,
    with ``--once`` (a re-executed or resumed council run returns its council's finished run) and the
    council's own config, whose code is the councils file's (a config without one takes it)."""
    values = job.option_values()
    config = load_config(values.get("--config"))
    if config.council_code is None:
        config = config.model_copy(update={"council_code": job.code})
    elif config.council_code != job.code:
        raise InputError(f"council {job.code}: its council config ({Path(job.workspace) / 'council.yaml'}) says council_code "
                         f"{config.council_code}; the councils file and the council config must name the same council")
    return RunOptions.of(**values, council=config, once=True)


def _run_direct(opts: RunOptions) -> Any:
    from tfclaims import pipeline
    from tfclaims.core.orchestration import direct

    return pipeline.run(opts, step=direct).summary


def run_council(job: CouncilJob, run: Callable[[RunOptions], Any] | None = None) -> dict[str, Any]:
    """Run one council (``run(opts)``; plain Python by default) in its own environment. Returns paths
    and seconds only; the council's counts are in its ``run_summary.json``."""
    t0 = time.perf_counter()
    with council_environment(job):
        opts = council_options(job)
        summary = (run or _run_direct)(opts)
    if summary.get("recorded_run"):  # the council had already made this claim (--once): say which run, where
        write_json({"run_id": summary.get("run_id"), "run_folder": summary.get("recorded_run_folder"), "summary": summary},
                   Path(job.out) / RECORDED_RUN_JSON)
    return {"code": job.code, "run_id": job.run_id, "run_folder": job.out, "wall_seconds": round(time.perf_counter() - t0, 2)}


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:ERROR_CHARS]


def run_sequential(jobs: list[CouncilJob], call: Callable[[CouncilJob], dict[str, Any]] = run_council) -> list[dict[str, Any]]:
    """The councils one after another in this process (the baseline), each by ``call(job)`` (plain
    Python by default; a flow run each under Prefect); one failing does not stop the others."""
    results = []
    for job in jobs:
        t0 = time.perf_counter()
        try:
            r = call(job)
            results.append({"code": job.code, "error": None, "wall_seconds": r["wall_seconds"]})
        except Exception as exc:
            results.append({"code": job.code, "error": error_text(exc), "wall_seconds": round(time.perf_counter() - t0, 2)})
    return results


# ---------------------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """What a consortium run will do: the jobs to run, the councils kept from an earlier run, where it writes."""

    opts: ConsortiumOptions
    consortium_run_id: str
    out: Path
    jobs: list[CouncilJob]
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> the earlier run's record (succeeded)
    order: list[str] = field(default_factory=list)  # the councils in the file's order
    earlier: dict[str, Any] | None = None
    shared_ledger: str | None = None


def default_out(opts: ConsortiumOptions) -> Path:
    """A new folder named by the consortium run id: in the current workspace's reports, else beside the councils file."""
    ws = find_workspace()
    if ws is not None:
        return ws.reports_dir / f"consortium-{opts.run_id}"
    return opts.councils.parent / "consortium" / opts.run_id


def prepare(opts: ConsortiumOptions) -> Plan:
    """Check everything before anything runs (the file, each council's own run options) and plan the
    run; nothing is written. Every problem at once, naming the file, the council and the key."""
    model, paths = load_councils(opts.councils)
    earlier = None
    if opts.resume is not None:
        earlier = json.loads((opts.resume / SUMMARY_JSON).read_text(encoding="utf-8"))
        if earlier.get("period_end") != opts.period_end.isoformat():
            raise InputError(f"--resume {opts.resume}: that consortium run's period end is {earlier.get('period_end')}, "
                             f"not --period-end {opts.period_end.isoformat()}")
        if earlier.get("councils_file") != str(opts.councils):
            raise InputError(f"--resume {opts.resume}: that consortium run read {earlier.get('councils_file')}, not {opts.councils}")
    kept = {c["code"]: c for c in (earlier or {}).get("councils", []) if c.get("status") == "succeeded"}
    jobs, problems = [], []
    for n, c in enumerate(model.councils):
        if c.code in kept:
            continue
        ws, cohort = paths[c.code]
        wsp = find_workspace(ws)
        assert wsp is not None
        run_id = council_run_id(opts.run_id, c.code)
        job = CouncilJob(code=c.code, run_id=run_id, workspace=str(ws), input=str(cohort), period_end=opts.period_end.isoformat(),
                         out=str(wsp.run_dir(run_id)), ledger=model.ledger or "",
                         operator=opts.operator or "", seed=opts.seed, dry_run=opts.dry_run, reference_key_env=c.reference_key_env or "",
                         memory=c.memory or "")
        try:
            with council_environment(job):
                council_options(job)
        except InputError as exc:
            problems.append(f"{opts.councils}: councils[{n}] ({c.code}): {exc}")
            continue
        jobs.append(job)
    if problems:
        raise ConfigError("; ".join(problems))
    out = opts.resume if opts.resume is not None else (opts.out or default_out(opts))
    if opts.resume is None and (out / SUMMARY_JSON).exists():
        raise InputError(f"--out {out}: already holds a consortium run ({SUMMARY_JSON}); nothing is replaced: give a new folder, "
                         f"or --resume {out} to run again the councils that did not succeed")
    return Plan(opts=opts, consortium_run_id=(earlier or {}).get("consortium_run_id", opts.run_id), out=out, jobs=jobs, kept=kept,
                order=[c.code for c in model.councils], earlier=earlier, shared_ledger=model.ledger)


# ---------------------------------------------------------------------------------------- results


def _council_record(job: CouncilJob, error: str | None, wall_seconds: float | None) -> dict[str, Any]:
    """One council's line of the consortium summary, from its run summary (counts, money, reasons)."""
    record: dict[str, Any] = {"code": job.code, "status": "failed", "run_id": job.run_id, "run_folder": job.out, "error": error,
                              "wall_seconds": wall_seconds}
    if error is None:
        run_id = job.run_id
        path = Path(job.out) / RECORDED_RUN_JSON
        if not path.is_file():
            path = Path(job.out) / run_files.RUN_SUMMARY_JSON
        try:
            s = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            record["error"] = f"the council's run summary could not be read ({path}): {type(exc).__name__}"
            return record
        if path.name == RECORDED_RUN_JSON:  # the council's claim was made by an earlier run: that run's summary
            run_id = str(s["run_id"])
            record.update(run_id=run_id, run_folder=s["run_folder"], recorded_run=True, note=s["summary"].get("note"))
            s = s["summary"]
        if s.get("run_id") != run_id or s.get("status") not in ("succeeded", "recovered"):
            record["error"] = f"the council's run summary ({path}) is not of a succeeded run {run_id}"
            return record
        pence = int(Decimal(s.get("amount_gbp") or "0") * 100)
        decisions = dict(sorted((s.get("decisions") or {}).items()))
        record.update(status="succeeded", name=(s.get("report") or {}).get("council") or "", families=sum(decisions.values()), people=(s.get("tables", {}).get("people") or {}).get("accepted"),
                      claims=s.get("claims", 0), amount_pence=pence, amount=gbp_text(s.get("amount_gbp")), dry_run=bool(s.get("dry_run")),
                      decisions=[{"decision": k, "reason": decision_in_words(k)[0], "families": n} for k, n in decisions.items()])
    return record


def _totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in records if r["status"] == "succeeded"]
    decisions: dict[str, int] = {}
    for r in ok:
        for d in r["decisions"]:
            decisions[d["decision"]] = decisions.get(d["decision"], 0) + d["families"]
    pence = sum(r["amount_pence"] for r in ok)
    return {"councils": len(records), "succeeded": len(ok), "failed": len(records) - len(ok), "families": sum(r["families"] for r in ok),
            "claims": sum(r["claims"] for r in ok), "amount_pence": pence, "amount": gbp_text(str(Decimal(pence) / 100)),
            "decisions": [{"decision": k, "reason": decision_in_words(k)[0], "families": n} for k, n in sorted(decisions.items())]}


def execute(plan: Plan, runner: Runner) -> dict[str, Any]:
    """Run the plan's jobs with ``runner``, then write the consortium's summary and report. Returns the summary."""
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    results = runner(plan.jobs) if plan.jobs else []
    wall = round(time.perf_counter() - t0, 2)
    by_code = {r["code"]: r for r in results}
    fresh = {j.code: _council_record(j, by_code[j.code]["error"], by_code[j.code]["wall_seconds"]) for j in plan.jobs}
    records = [fresh.get(code) or plan.kept[code] for code in plan.order]
    invocation = {"run_id": plan.opts.run_id, "mode": plan.opts.mode, "processes": plan.opts.processes, "work_pool": plan.opts.work_pool,
                  "started": started.isoformat(timespec="seconds"), "wall_seconds": wall, "councils_run": [j.code for j in plan.jobs],
                  "operator": plan.opts.operator}
    summary = {
        "consortium_run_id": plan.consortium_run_id,
        "tfclaims_version": tfclaims.__version__,
        "councils_file": str(plan.opts.councils),
        "period_end": plan.opts.period_end.isoformat(),
        "dry_run": plan.opts.dry_run,
        "ledger": "shared (one schema per council)" if plan.shared_ledger else "each council's own",
        "status": "succeeded" if all(r["status"] == "succeeded" for r in records) else "failed",
        "runs": [*(plan.earlier or {}).get("runs", []), invocation],
        "councils": records,
        "totals": _totals(records),
    }
    plan.out.mkdir(parents=True, exist_ok=True)
    write_json(summary, plan.out / SUMMARY_JSON)
    with atomic_write(plan.out / REPORT_HTML, "w") as fh:
        fh.write(report_html(summary))
    return summary


# ---------------------------------------------------------------------------------------- for people


def _seconds(v: Any) -> str:
    return "" if v is None else f"{float(v):,.1f}"


def terminal_table(summary: dict[str, Any]) -> str:
    """A short table for the terminal: a line per council and the totals."""
    lines = [f"{'council':<12}{'result':<11}{'families':>10}{'claims':>8}{'amount':>16}{'seconds':>9}"]
    for r in summary["councils"]:
        ok = r["status"] == "succeeded"
        lines.append(f"{r['code']:<12}{r['status']:<11}{r.get('families', 0) if ok else '':>10}{r.get('claims', '') if ok else '':>8}"
                     f"{r.get('amount', '') if ok else '':>16}{_seconds(r.get('wall_seconds')):>9}")
    t = summary["totals"]
    done = f"{t['succeeded']} of {t['councils']}"
    lines.append(f"{'all':<12}{done:<11}{t['families']:>10}{t['claims']:>8}{t['amount']:>16}"
                 f"{_seconds(summary['runs'][-1]['wall_seconds']):>9}")
    for r in summary["councils"]:
        if r["status"] != "succeeded":
            lines.append(f"{r['code']} failed: {r['error']}")
    return "\n".join(lines)


def _reasons(decisions: list[dict[str, Any]]) -> str:
    return "<br>".join(f"{html.escape(d['reason'])}: {d['families']:,}" for d in decisions)


def _council_cell(r: dict[str, Any]) -> str:
    name = r.get("name")
    return f"{html.escape(name)}<br><small>{html.escape(r['code'])}</small>" if name else html.escape(r["code"])


def report_html(summary: dict[str, Any]) -> str:
    """``consortium_report.html``: one table, words not codes, money as £; plain HTML, no external assets."""
    e = html.escape
    rows = []
    for r in summary["councils"]:
        if r["status"] == "succeeded":
            rows.append(f"<tr><td>{_council_cell(r)}</td><td>Succeeded</td><td class=n>{r['families']:,}</td><td class=n>{r['claims']:,}</td>"
                        f"<td class=n>{e(r['amount'])}</td><td>{_reasons(r['decisions'])}</td><td class=n>{_seconds(r.get('wall_seconds'))}</td>"
                        f"<td class=run>{e(r['run_id'])}<br><small>{e(r['run_folder'])}</small></td></tr>")
        else:
            rows.append(f"<tr class=failed><td>{e(r['code'])}</td><td>Failed: {e(r['error'] or '')}</td><td></td><td></td><td></td><td></td>"
                        f"<td class=n>{_seconds(r.get('wall_seconds'))}</td><td>{e(r['run_id'])}</td></tr>")
    t = summary["totals"]
    rows.append(f"<tr class=total><td>All councils</td><td>{t['succeeded']} of {t['councils']} succeeded</td><td class=n>{t['families']:,}</td>"
                f"<td class=n>{t['claims']:,}</td><td class=n>{e(t['amount'])}</td><td>{_reasons(t['decisions'])}</td>"
                f"<td class=n>{_seconds(summary['runs'][-1]['wall_seconds'])}</td><td></td></tr>")
    dry = " (dry run: nothing recorded in any ledger)" if summary["dry_run"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Consortium claim run {e(summary['consortium_run_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.3em .6em;vertical-align:top}}
td:nth-child(6){{min-width:22em}}.run{{overflow-wrap:anywhere;max-width:24em}}
th{{background:#eee;text-align:left}}.n{{text-align:right}}.failed{{background:#fde2e2}}.total{{font-weight:bold}}</style></head>
<body><h1>Consortium claim run, period end {e(summary['period_end'])}{e(dry)}</h1>
<p>Consortium run {e(summary['consortium_run_id'])}: {t['succeeded']} of {t['councils']} councils succeeded. Counts, money and reasons
only; each council's own report and files are in its run folder.</p>
<table><thead><tr><th>Council</th><th>Result</th><th>Families decided</th><th>Claims</th><th>Amount claimed</th><th>Decisions by reason</th>
<th>Seconds</th><th>Run</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
