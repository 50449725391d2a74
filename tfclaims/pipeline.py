"""Each command as a plain function: the order of stages, the files they write, the audit record.

    ingest -> link -> identify -> track -> claim -> spot_check

Every function takes ``step`` (``tfclaims.core.orchestration``): ``direct`` runs it as plain Python;
``flows/`` passes a step that makes each table-level call a Prefect task. Every command appends
one record to the audit trail (``tfclaims.audit.trail``) naming its purpose, inputs and outputs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import tfclaims
from tfclaims.spot_check import check_workbook_not_started
from tfclaims.core import duck, run_files
from tfclaims.audit import trail as audit
from tfclaims.claim.decide import family_reference, pence_to_gbp, settle_with_ledger
from tfclaims.claim.register import (
    claim_file_frame, claim_references_sha256, claim_register_frame, decisions_for_people,
    ledger_state, window_start as window_start_of, withdrawals_since,
)
from tfclaims.core.cohort import TABLES, Cohort
from tfclaims.core.config import DEMO_REFERENCE_KEY, CouncilConfig
from tfclaims.core.errors import InputError
from tfclaims.rules.frameworks import Framework
from tfclaims.ingest.validate import IngestResult, ingest
from tfclaims.ingest.returns import finding_rows, left_out_rows
from tfclaims.schemas.returns import ReturnsFindings, ReturnsLeftOut
from tfclaims.core.membership import is_in
from tfclaims.core.orchestration import Step, direct, say
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.core.workspace import DEMO_FOLDER, Workspace, find_workspace, init_workspace
from tfclaims.options import (
    ClaimOptions, CohortOptions, CommandOptions, DemoOptions, IdentifyOptions, ReconcileOptions, RunOptions, SampleFields, SpotCheckOptions,
    TrackOptions, ValidateOptions,
)
from tfclaims.claim import finance
from tfclaims.claim.reissue import REISSUED_FILES, Reissue, corrected_register, next_issue, superseded_name
from tfclaims.claim.runs import crash_point
from tfclaims.core.write import atomic_write, sha256_file, validate_output, write_csv, write_json, write_parquet, write_xlsx
from tfclaims import report as run_report

CANDIDATES_NOTE = (
    "Eligibility lists CANDIDATES for a practitioner to confirm: no decision about a family is made by "
    "this computer (the privacy notice promises no automated decisions)."
)


def new_run_id() -> str:
    return audit.new_run_id()


def warn(message: str) -> None:
    """A line the user must see, whatever the terminal (stderr)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def progress(message: str) -> None:
    """Where the run is, on the terminal and in the run log (``orchestration.say``)."""
    say(message)


# ----------------------------------------------------------------------------------------------
# the files one run writes


# A workbook this large (cells) is written by a helper process while the run goes on: writing
# Excel is pure Python and the slowest step per row; the machine's second core is otherwise idle.
BACKGROUND_XLSX_CELLS = 200_000
def _written(writer: Any, df: pd.DataFrame, path: Path) -> str:
    """Write ``df`` with ``writer`` (atomically) and return the file's SHA-256 (on a writer thread)."""
    writer(df, path)
    return sha256_file(path)


def _write_xlsx_in_child(sheets: dict[str, pd.DataFrame], path: Path, notes: dict[str, list[str]] | None, money: tuple[str, ...]) -> None:
    write_xlsx(sheets, path, notes=notes, money_columns=money)


@dataclass
class RunFiles:
    """Writes a run's files under ``out`` and records each in the audit record (purpose + recipient).

    Large workbooks are written in a helper process; ``wait()`` (called before the run summary)
    collects them, so a run never ends with a workbook half written or unrecorded.
    """

    out: Path
    record: audit.RunRecord | None = None
    files: list[dict[str, str]] = field(default_factory=list)
    csv_only: list[dict[str, Any]] = field(default_factory=list)  # workbooks not written: their tables are too long
    _pending: list[tuple[str, Any]] = field(default_factory=list)
    _pool: Any = None
    _soon: dict[str, Any] = field(default_factory=dict)  # CSV files being written on a thread, by name
    _behind: list[tuple[str, Any]] = field(default_factory=list)  # files being written on a thread, recorded before the next output
    _threads: Any = None

    def _check(self, path: Path) -> None:
        if self.record is not None:
            self.record.check_output(path.name)  # refuse before writing: a forbidden file never exists

    def _recorded(self, name: str, sha256: str | None = None) -> Path:
        """Record an output (hashed once, here or by the thread that wrote it), after the outputs
        still being written behind the run, so the order of outputs is the order of the calls."""
        self.settle()
        return self._entry(name, sha256)

    def _entry(self, name: str, sha256: str | None) -> Path:
        path = self.out / name
        entry = {"name": Path(name).as_posix(), "sha256": sha256 or sha256_file(path)}
        if self.record is not None:
            self.record.output(path, sha256=entry["sha256"])
            entry["recipient"] = self.record.outputs[-1]["recipient"]
        self.files = [f for f in self.files if f["name"] != entry["name"]] + [entry]
        return path

    def _thread(self) -> Any:
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfclaims-write")
        return self._threads

    def _write(self, name: str, writer: Any) -> Path:
        path = self.out / name
        self._check(path)
        writer(path)
        return self._recorded(name)

    def csv(self, name: str, df: pd.DataFrame) -> Path:
        """A CSV output. If :meth:`csv_soon` started it, wait for it here and record it, in this place
        in the run's order of outputs as if it had been written now."""
        started = self._soon.pop(name, None)
        if started is not None:
            return self._recorded(name, started.result())
        return self._write(name, lambda p: write_csv(df, p))

    def csv_soon(self, name: str, df: pd.DataFrame) -> None:
        """Start writing a CSV output on a thread now (Arrow builds the text without holding the GIL,
        so the run goes on meanwhile); the run's :meth:`csv` call for it later records it. ``df``
        must not change in between."""
        path = self.out / name
        self._check(path)
        self._soon[name] = self._thread().submit(_written, write_csv, df, path)

    def write(self, name: str, writer: Any) -> Path:
        """An output made by ``writer(path)`` (which writes atomically), recorded like the others."""
        return self._write(name, writer)

    def xlsx(self, name: str, sheets: dict[str, pd.DataFrame] | Callable[[], dict[str, pd.DataFrame]],
             notes: dict[str, list[str]] | None = None, *, rows: int | None = None, csv: tuple[str, ...] = (),
             money: tuple[str, ...] = ()) -> Path | None:
        """A workbook for people, unless a table is too long for one (``rows``, else the longest sheet,
        over ``WORKBOOK_MAX_ROWS``): then only its CSV (``csv``) is written and ``csv_only`` says so.
        ``sheets`` may be a function, so a big run does not build frames for a workbook it skips."""
        n = rows if rows is not None else max((len(df) for df in sheets.values()), default=0)  # type: ignore[union-attr]
        if n > run_files.WORKBOOK_MAX_ROWS:
            self.csv_only.append({"name": ", ".join(csv) or name.replace(".xlsx", ".csv"), "rows": int(n), "workbook": name})
            return None
        if callable(sheets):
            sheets = sheets()
        cells = sum(df.shape[0] * max(df.shape[1], 1) for df in sheets.values())
        if cells < BACKGROUND_XLSX_CELLS:
            return self._write(name, lambda p: write_xlsx(sheets, p, notes=notes, money_columns=money))
        path = self.out / name
        self._check(path)
        self._pending.append((name, self._helper().submit(_write_xlsx_in_child, sheets, path, notes, money)))
        return path

    def _helper(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def __enter__(self) -> RunFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        """A run that failed stops its helpers: workbooks not started are cancelled, one being
        written is finished; a CSV written on a thread but not yet recorded is removed, so a failed
        run leaves only the outputs it had recorded, as if nothing had been written ahead."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None
            for name in [*self._soon, *(name for name, _ in self._behind)]:
                (self.out / name).unlink(missing_ok=True)
            self._soon, self._behind = {}, []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pending = []

    def settle(self) -> None:
        """Record the files still being written behind the run (after waiting for them)."""
        while self._behind:
            name, done = self._behind.pop(0)
            self._entry(name, done.result())

    def wait(self) -> None:
        """Collect the workbooks written in the background (re-raising their errors) and record them."""
        for name in list(self._soon):  # started and never asked for: recorded now, not lost
            self._recorded(name, self._soon.pop(name).result())
        self.settle()
        try:
            for name, future in self._pending:
                future.result()
                self._recorded(name)
        finally:
            self._pending = []
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def parquets(self, frames: dict[str, pd.DataFrame]) -> None:
        """Parquet files written behind the run on a thread (Arrow writes and hashlib hashes without
        the GIL), each recorded before the run's next output, in the order given, as if one by one."""
        for name in frames:
            self._check(self.out / name)
        for name, df in frames.items():  # a shallow copy: the run may add columns to its own frame meanwhile
            self._behind.append((name, self._thread().submit(_written, write_parquet, df.copy(deep=False), self.out / name)))

    def json(self, name: str, obj: dict[str, Any]) -> Path:
        return self._write(name, lambda p: write_json(obj, p))

    def adopt(self, path: Path) -> Path:
        """A file another module wrote into ``out`` (e.g. the auditor workbook)."""
        return self._write(path.relative_to(self.out).as_posix(), lambda p: None)


# ----------------------------------------------------------------------------------------------
# the audit record of a command


def audit_log(audit_path: Path | None, ledger: Any) -> audit.AuditLog:
    """The audit chain a command appends to: the council's own chain in a ledger shared by councils;
    else the file (its head kept beside it and, with a ledger, in the ledger)."""
    if ledger is not None and ledger.keeps_audit_chain:
        return ledger.audit_log()
    path = audit_path or audit.default_audit_path(getattr(ledger, "target", None) if ledger is not None else None)
    heads: audit.HeadStore = audit.FileHeadStore(path)
    if ledger is not None:
        from tfclaims.claim.ledger import LedgerHeadStore

        heads = audit.MultiHeadStore(heads, LedgerHeadStore(ledger, path))
    return audit.FileLog(Path(path), heads)


@contextmanager
def audit_context(command: str, params: dict[str, Any], *, audit_path: Path | None, operator: str | None,
                  config: CouncilConfig | None = None, run_id: str | None = None, ledger: Any = None) -> Iterator[audit.RunRecord]:
    """One audit record for one command, appended to the council's chain (``audit_log``)."""
    with audit.run_record(command, params, operator=operator, config=config, run_id=run_id, log=audit_log(audit_path, ledger)) as rec:
        yield rec


@contextmanager
def _audited(opts: CommandOptions, ledger: Any = None, command: str | None = None) -> Iterator[audit.RunRecord]:
    """The command's audit record. A command without a ledger of its own (validate, identify, track, spot
    check) still appends to its council's chain in the shared ledger its council config names."""
    with _council_chain(opts, ledger) as book:
        with audit_context(command or opts.command, opts.params(), audit_path=opts.audit, operator=opts.operator,
                           config=opts.council, run_id=opts.run_id, ledger=book) as rec:
            yield rec


@contextmanager
def _council_chain(opts: CommandOptions, ledger: Any) -> Iterator[Any]:
    named = opts.council.ledger if opts.council is not None else None
    if ledger is not None or not named or "://" not in named:
        yield ledger
        return
    from tfclaims.claim.ledger import Ledger

    with Ledger.open(named, council=opts.council.council_code) as book:
        yield book if book.keeps_audit_chain else None


@contextmanager
def ledger_action(command: str, target: str, *, audit_path: Path | None, operator: str | None, create: bool = False,
                  record_id: str | None = None, **params: Any) -> Iterator[tuple[Any, audit.RunRecord]]:
    """A person's decision on the ledger (withdraw, release, approve), recorded in the audit trail
    (``record_id``: the run id of that record, e.g. the name of its Prefect flow run)."""
    from tfclaims.claim.ledger import Ledger

    with Ledger.open(target, create=create) as book:
        with audit_context(command, {"ledger": str(target), **params}, audit_path=audit_path, operator=operator, ledger=book,
                           run_id=record_id) as rec:
            yield book, rec


# ----------------------------------------------------------------------------------------------
# ingest + link: the start of every command that reads a cohort


@dataclass
class Prepared:
    ingest: IngestResult
    cohort: Cohort  # linked
    unmatched: pd.DataFrame
    link_counts: pd.DataFrame | None


def _ingest_stage(opts: CohortOptions, files: RunFiles, rec: audit.RunRecord, step: Step) -> IngestResult:
    """Read and validate the cohort, record it in the audit trail, write the row-level error report."""
    progress(f"reading and validating {opts.input}")
    result = ingest(opts.input, opts.council, local_codes=opts.declared_local_codes(), step=step)
    rec.input(opts.input, rows=result.file_rows)
    rec.touched(family_ids=result.cohort.people["family_id"], person_ids=result.cohort.people["person_id"])
    rec.note("quarantined_rows", result.quarantined_rows)
    files.csv(run_files.VALIDATION_ERRORS_CSV, result.errors)
    sheets = {"Errors": result.errors, "Counts": result.counts_frame()}
    notes = {"Errors": ["Rows left out of this run. Each names the file, sheet and row as you see them in Excel or an editor."]}
    if result.returns:  # the children's social care returns: what of them is not a row, and the values reported
        left_out, findings = ReturnsLeftOut.validate(left_out_rows(result.returns)), ReturnsFindings.validate(finding_rows(result.returns))
        files.csv(run_files.RETURNS_LEFT_OUT_CSV, left_out)
        files.csv(run_files.RETURNS_FINDINGS_CSV, findings)
        sheets |= {"Returns left out": left_out, "Returns findings": findings}
        notes |= {"Returns left out": ["Records of the CIN census and SSDA903 files that are not rows of this run, each with its reason "
                                       "(line: the XML line or CSV row where the record starts; child: the council's child id)."],
                  "Returns findings": ["Values that break the return's published specification: reported, and the rest of the file read."]}
    files.xlsx(run_files.VALIDATION_ERRORS_XLSX, sheets, notes=notes, csv=(run_files.VALIDATION_ERRORS_CSV,))
    return result


def _strict_failure(result: IngestResult, files: RunFiles) -> InputError:
    return InputError(f"--strict: {result.quarantined_rows} row(s) quarantined; see {files.out / run_files.VALIDATION_ERRORS_CSV}")


def _prepare(opts: CohortOptions, files: RunFiles, rec: audit.RunRecord, step: Step) -> Prepared:
    duck.configure(opts.council.duckdb)  # this council's DuckDB threads and memory, for the linker and the keyed hashes
    result = _ingest_stage(opts, files, rec, step)
    if opts.strict and result.quarantined_rows:
        raise _strict_failure(result, files)
    progress("linking source rows to people")
    if opts.link_decisions is not None:  # a reviewer's decisions are an input of the run like the cohort
        rec.input(opts.link_decisions)
    linked = step("link", _link, result.cohort, opts)
    result.cohort = linked.cohort  # the unlinked copies of the event tables are not needed any more
    files.csv(run_files.UNMATCHED_CSV, linked.unmatched)
    files.parquets({f"accepted/{table}.parquet": frame for table, frame in linked.cohort.tables.items()})
    return Prepared(result, linked.cohort, linked.unmatched, linked.counts)


def _record_framework(rec: audit.RunRecord, fw: Framework) -> None:
    """The rules in force, with their hashes, in the run's audit record."""
    rec.framework(fw.name, fw.version, fw.sha256, plan=fw.plan.path if fw.plan else None, plan_sha256=fw.plan.sha256 if fw.plan else None)


def _link(cohort: Cohort, opts: CohortOptions) -> Any:
    from tfclaims.link.passes import link, read_link_decisions

    decisions = read_link_decisions(opts.link_decisions) if opts.link_decisions else None
    return link(cohort, opts.council.linkage, decisions)


def _table_counts(prep: Prepared) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in prep.ingest.counts:
        unmatched = int(prep.link_counts.loc[c.table, "unmatched"]) if prep.link_counts is not None and c.table in prep.link_counts.index else 0
        out[c.table] = {
            "read": c.read, "accepted": c.accepted, "quarantined": c.quarantined, "unmatched": unmatched,
            "used": c.accepted - unmatched, "files": c.files, "extra_columns_ignored": c.extra_columns,
        }
    return out


def _input_hashes(prep: Prepared, rec: audit.RunRecord) -> list[dict[str, Any]]:
    """Each cohort file with its SHA-256 (as the audit record computed it: files are hashed once) and rows."""
    known: dict[str, str] = {}
    for entry in rec.inputs:
        if entry.get("kind") == "folder":
            known.update({str(Path(entry["path"]) / f["path"]): f["sha256"] for f in entry["files"]})
        elif "sha256" in entry:
            known[entry["path"]] = entry["sha256"]
    return [{"path": str(p), "sha256": known.get(str(p)) or sha256_file(p), "rows": prep.ingest.file_rows.get(p.name, 0)}
            for p in prep.ingest.files]


def _summary(command: str, opts: CohortOptions, prep: Prepared | None, rec: audit.RunRecord, **more: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "run_id": opts.run_id,
        "command": command,
        "tfclaims_version": tfclaims.__version__,
        "purposes": list(rec.purposes),
        "parameters": opts.params(),
    }
    if prep is not None:
        s["tables"] = _table_counts(prep)
        s["not_supplied"] = [t for t in TABLES if not prep.ingest.cohort.supplied(t)]
        s["ignored"] = prep.ingest.ignored
        s["ingest_notes"] = list(prep.ingest.notes)
        if prep.ingest.returns:
            s["returns"] = [r.summary() for r in prep.ingest.returns]
        s["covered_to"] = {t: d.isoformat() for t, d in prep.ingest.cohort.covered_to.items()}
        s["inputs"] = _input_hashes(prep, rec)
    s.update(more)
    return s


def _finish(files: RunFiles, summary: dict[str, Any], *, wait: bool = True, report: bool = True) -> dict[str, Any]:
    """The run's report (``report.html``, from the summary) and then its summary, the report among its outputs."""
    files.settle()
    if wait:
        files.wait()
    summary["csv_only"] = list(files.csv_only)
    if report:
        files.write(run_files.REPORT_HTML, lambda p: run_report.write_report(summary, p))
    summary["outputs"] = list(files.files)
    files.json(run_files.RUN_SUMMARY_JSON, summary)
    return summary


def _link_facts(prep: Prepared) -> dict[str, Any] | None:
    return run_report.link_facts(prep.link_counts, prep.unmatched)


# ----------------------------------------------------------------------------------------------
# validate


@dataclass
class Outcome:
    run_id: str
    out: Path
    summary: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)


def validate(opts: ValidateOptions, *, step: Step = direct) -> Outcome:
    """``tfclaims validate``: ingest and validation only (purpose: identification)."""
    with _audited(opts) as rec:
        files = RunFiles(opts.out, rec)
        result = _ingest_stage(opts, files, rec, step)
        summary = _summary("validate", opts, Prepared(result, result.cohort, pd.DataFrame(), None), rec,
                           report=run_report.report_facts(council=opts.council.council_name))
        if opts.strict and result.quarantined_rows:
            summary["status"] = "failed: --strict and rows were quarantined"
            _finish(files, summary)
            raise _strict_failure(result, files)
        files.parquets({f"accepted/{table}.parquet": frame for table, frame in result.cohort.tables.items()})
        summary["status"] = "succeeded"
        return Outcome(opts.run_id, opts.out, _finish(files, summary))


# ----------------------------------------------------------------------------------------------
# identify


def _not_evaluated_note(frame: pd.DataFrame) -> list[str]:
    if frame is None or not len(frame):
        return []
    missing = sorted(set(frame["missing_table"].astype(str)))
    return [f"Not evaluated (table not supplied: {', '.join(missing)}): indicators reading these tables cannot make a headline present."]


def _coverage_note(cohort: Cohort) -> list[str]:
    """What a table known only to a day (it came from annual returns) means for these results."""
    return [f"{t} comes only from the children's social care returns, so it is known only to {d.isoformat()}: an episode after "
            "that day cannot be seen; a headline it would evidence may be missing, and a success measure or exclusion reading "
            "it after that day is not evaluated." for t, d in cohort.covered_to.items()]


def _headline_words(fw: Framework) -> dict[str, str]:
    return {code: h.label for code, h in fw.headlines.items()}


def identify(opts: IdentifyOptions, *, step: Step = direct) -> Outcome:
    """``tfclaims identify``: eligibility of every family in ``people`` at ``as_of``: candidates, not decisions."""
    from tfclaims.rules.identify import identify as identify_families

    fw, as_of = opts.load_framework(), opts.as_of
    with _audited(opts) as rec:
        _record_framework(rec, fw)
        files = RunFiles(opts.out, rec)
        prep = _prepare(opts, files, rec, step)
        progress(f"identifying eligible families at {as_of}")
        result = step("identify", identify_families, prep.cohort, fw, as_of)
        notes = [CANDIDATES_NOTE, *_not_evaluated_note(result.not_evaluated), *_coverage_note(prep.cohort)]
        files.csv(run_files.ELIGIBILITY_CSV, result.eligibility)
        files.csv(run_files.ELIGIBILITY_EVIDENCE_CSV, result.evidence)
        sheets = {"Eligibility": result.eligibility, "Evidence": result.evidence}
        if fw.eligibility_exclusions:  # the plan's exclusions: which families they make not eligible, and why
            files.csv(run_files.ELIGIBILITY_EXCLUSIONS_CSV, result.exclusions)
            sheets["Exclusions"] = result.exclusions
        files.xlsx(run_files.ELIGIBILITY_XLSX, sheets, notes={"Eligibility": notes},
                   csv=(run_files.ELIGIBILITY_CSV, run_files.ELIGIBILITY_EVIDENCE_CSV))
        eligible = int(result.eligibility["eligible"].sum())
        rec.note("eligible_families", eligible)
        elig = result.eligibility
        facts = run_report.report_facts(
            council=opts.council.council_name, framework=fw, link=_link_facts(prep),
            funnel={"families": len(elig), "with_headline": int((elig["headline_count"] > 0).sum()), "eligible": eligible},
            headlines={"population": len(elig), "rows": run_report.headline_counts(elig["headlines"], _headline_words(fw))})
        summary = _summary("identify", opts, prep, rec, framework=fw.audit_record(), as_of=as_of.isoformat(),
                           eligible_families=eligible, families=len(result.eligibility), note=CANDIDATES_NOTE,
                           not_evaluated=result.not_evaluated.to_dict("records"), status="succeeded", report=facts)
        return Outcome(opts.run_id, opts.out, _finish(files, summary))


# ----------------------------------------------------------------------------------------------
# track


def _write_outcomes(files: RunFiles, result: Any) -> None:
    files.csv(run_files.OUTCOMES_CSV, result.outcomes)
    files.csv(run_files.OUTCOME_EVIDENCE_CSV, result.evidence)


def track(opts: TrackOptions, *, step: Step = direct) -> Outcome:
    """``tfclaims track``: outcome status per required headline of every attached family at ``as_of``."""
    from tfclaims.rules.track import track as track_families

    fw, as_of = opts.load_framework(), opts.as_of
    with _audited(opts) as rec:
        _record_framework(rec, fw)
        files = RunFiles(opts.out, rec)
        prep = _prepare(opts, files, rec, step)
        progress(f"tracking outcomes at {as_of}")
        result = step("track", track_families, prep.cohort, fw, as_of)
        _write_outcomes(files, result)
        files.csv(run_files.FAMILIES_CSV, result.families)
        files.xlsx(run_files.OUTCOMES_XLSX, {"Outcomes": result.outcomes, "Families": result.families, "Evidence": result.evidence},
                   notes={"Outcomes": [*_not_evaluated_note(result.not_evaluated), *_coverage_note(prep.cohort)] or ["Outcome of every required headline of every attached family."]},
                   csv=(run_files.OUTCOMES_CSV, run_files.FAMILIES_CSV, run_files.OUTCOME_EVIDENCE_CSV))
        fams = result.families
        no_route = ~np.logical_or.reduce([fams[r].to_numpy(dtype=bool) for r in fw.claim_routes])
        facts = run_report.report_facts(
            council=opts.council.council_name, framework=fw, link=_link_facts(prep),
            funnel=run_report.track_funnel(fams, tuple(fw.claim_routes)),
            headlines={"population": len(fams), "rows": run_report.headline_counts(fams["headlines_at_attachment"], _headline_words(fw))},
            blocking={"families": int(no_route.sum()),
                      "headlines": run_report.blocking_headlines(fams.loc[no_route, "unmet"], _headline_words(fw))})
        summary = _summary("track", opts, prep, rec, framework=fw.audit_record(), as_of=as_of.isoformat(),
                           attached_families=len(result.families),
                           ssp=int(result.families["ssp"].sum()), continuous_employment=int(result.families["continuous_employment"].sum()),
                           sfo=int(result.families["sfo"].sum()), status="succeeded", report=facts)
        return Outcome(opts.run_id, opts.out, _finish(files, summary))


# ----------------------------------------------------------------------------------------------
# claim


def _claim_stage(opts: ClaimOptions, files: RunFiles, rec: audit.RunRecord, step: Step, ledger: Any) -> dict[str, Any]:
    """Decide, record in the ledger (unless dry run), write the claim's files. Returns summary facts."""
    from tfclaims.claim.evaluate import evaluate_claims, programme_of
    from tfclaims.schemas.claim import DECISION_COLUMNS, ClaimDecisions

    claim = opts
    fw = opts.load_framework()
    _record_framework(rec, fw)
    key = opts.reference_key
    if ledger is not None:
        ledger.check_integrity()  # a ledger changed by hand is refused before any work
    prep = _prepare(opts, files, rec, step)
    programme = programme_of(prep.cohort)
    A = claim.period_end
    progress(f"tracking outcomes at {A}")

    def write_soon(tracked: Any, at_attachment: Any) -> None:  # written while the claims are decided
        files.csv_soon(run_files.ELIGIBILITY_EVIDENCE_CSV, tracked.attachment_evidence)
        files.csv_soon(run_files.OUTCOMES_CSV, tracked.outcomes)
        files.csv_soon(run_files.OUTCOME_EVIDENCE_CSV, tracked.evidence)
        files.csv_soon(run_files.ELIGIBILITY_CSV, at_attachment.eligibility)

    ev = evaluate_claims(prep.cohort, fw, A, state=lambda: step("read ledger", ledger_state, ledger, fw.name),
                         allocation=claim.allocation, council_allocation=opts.council.allocation, step=step, on_tracked=write_soon)
    tracked, at_attachment, families, decisions, state = ev.tracked, ev.at_attachment, ev.families, ev.decisions, ev.state
    fw_a, allocation = ev.framework, ev.allocation
    claims_before = len(state.active)

    register = decisions[decisions["decision"] == "claim"].copy()
    if ledger is not None and not claim.dry_run:
        files.settle()  # the pending record lists the outputs so far, those written behind the run included
        _begin_claim_run(opts, ledger, rec, fw.name)
        recorded = step("record claims in the ledger", ledger.record_claims, run_id=opts.run_id, framework=fw.name, period_end=A,
                        candidates=register[["family_id", "route", "amount_pence"]], allocation=allocation)
        crash_point("claims recorded")
        decisions = settle_with_ledger(decisions, already_claimed=recorded.already_claimed, audit_hold=recorded.audit_hold,
                                       over_allocation=recorded.over_allocation)
        refs = recorded.claimed.set_index("family_id")["claim_reference"]
        register = decisions[decisions["decision"] == "claim"].copy()
        register["claim_reference"] = register["family_id"].map(refs).astype("str")
        claims_before = recorded.claims_to_date
    else:
        register["claim_reference"] = [f"DRAFT-{i:06d}" for i in range(1, len(register) + 1)]
    register["family_reference"] = family_reference(register["family_id"], key)
    claim_register = claim_register_frame(register, programme, families, framework=fw.name, period_end=A, run_id=opts.run_id)
    claim_file = claim_file_frame(claim_register)
    out_decisions = decisions[list(DECISION_COLUMNS)].copy()
    validate_output(ClaimDecisions, out_decisions, "claim_decisions")

    files.csv(run_files.CLAIM_DECISIONS_CSV, out_decisions)
    headline_words = {code: h.label for code, h in fw.headlines.items()}
    files.xlsx(run_files.CLAIM_DECISIONS_XLSX, lambda: {"Decisions": decisions_for_people(out_decisions, claim_register, headline_words)},
               notes={"Decisions": [f"Claim decisions for period end {A.isoformat()} under {fw.name}."
                                    + (" DRY RUN: nothing recorded in the ledger." if claim.dry_run else "")]},
               rows=len(out_decisions), csv=(run_files.CLAIM_DECISIONS_CSV,), money=("amount",))
    files.csv(run_files.CLAIM_FILE_CSV, claim_file)
    crash_point("claim file written")
    files.csv(run_files.CLAIM_REGISTER_CSV, claim_register)
    files.csv(run_files.ELIGIBILITY_CSV, at_attachment.eligibility)
    files.csv(run_files.ELIGIBILITY_EVIDENCE_CSV, tracked.attachment_evidence)
    if fw.eligibility_exclusions:
        files.csv(run_files.ELIGIBILITY_EXCLUSIONS_CSV, at_attachment.exclusions)
    _write_outcomes(files, tracked)
    book = ledger.claims(fw.name) if ledger is not None else None  # the ledger after this run's claims, read once
    window_start = window_start_of(book, A, claim.window_start, fw_a)
    summary = finance.summarise(decisions, programme, fw_a, council=claim.council.council_name, window_start=window_start,
                                period_end=A, claims_before=claims_before, allocation=allocation, run_id=opts.run_id,
                                produced_by=claim.operator or "", dry_run=claim.dry_run, demo=claim.demo_key,
                                withdrawals=withdrawals_since(book, A))
    files.write(run_files.finance_summary_name(claim.dry_run), lambda p: finance.write_finance_summary(summary, p))
    counts = decisions.groupby(["decision", "reason"]).size()
    report_facts = _claim_report_facts(opts, fw, decisions, families, prep, book, len(claim_register))
    rec.note("claims", int(len(claim_register)))
    rec.note("claim_references_sha256", claim_references_sha256(claim_register["claim_reference"]))
    rec.note("amount_pence", int(claim_register["amount_pence"].sum()))
    return {
        "framework": fw.audit_record(),
        "period_end": A.isoformat(),
        "dry_run": claim.dry_run,
        "demo_reference_key": claim.demo_key,
        "ledger": None if ledger is None else str(ledger.target),
        "allocation": allocation,
        "claims": int(len(claim_register)),
        "amount_gbp": pence_to_gbp(pd.Series([int(claim_register["amount_pence"].sum())])).iloc[0],
        "decisions": {f"{d}:{r or 'claimed'}": int(n) for (d, r), n in counts.items()},
        "finance_summary": summary.to_record(),
        "report": report_facts,
        "prep": prep,
    }


def _claim_report_facts(opts: ClaimOptions, fw: Framework, decisions: pd.DataFrame, families: pd.DataFrame, prep: Prepared,
                        book: pd.DataFrame | None, claims: int) -> dict[str, Any]:
    """The run report's facts of a claim: the funnel, headlines at attachment, what holds up the families
    attached but not claimed, link results, and the ledger's claims per claim window."""
    words = _headline_words(fw)
    routes = tuple(fw.claim_routes)
    unclaimed = decisions[(decisions["decision"] == "no_claim") & (decisions["reason"] != "not_attached")]
    reasons = unclaimed["reason"].value_counts()
    outcomes_blocked = unclaimed.loc[unclaimed["reason"].isin(["outcomes_not_met", "discretion_review"]), "family_id"]
    unmet = families.loc[is_in(families["family_id"], outcomes_blocked), "unmet"]
    return run_report.report_facts(
        council=opts.council.council_name, framework=fw, link=_link_facts(prep),
        funnel=run_report.claim_funnel(decisions, families, routes),
        headlines={"population": len(families), "rows": run_report.headline_counts(families["headlines_at_attachment"], words)},
        blocking={"reasons": [{"code": str(k), "families": int(v)} for k, v in reasons.items()],
                  "families": int(len(outcomes_blocked)), "headlines": run_report.blocking_headlines(unmet, words)},
        windows=run_report.claims_by_window(book, period_end=opts.period_end, draft=claims if opts.dry_run else 0),
    )


def _check_claim_file_is_the_runs(out: Path, run_id: str) -> None:
    """A claim file already issued is never replaced by another run's: ``out`` may hold this run's own
    claim file (it is written again from the ledger), no other."""
    if not (out / run_files.CLAIM_FILE_CSV).exists():
        return
    try:
        owner = json.loads((out / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError, AttributeError):
        owner = None
    if owner != run_id:
        raise InputError(f"--out {out}: it holds the claim file of {'run ' + owner if owner else 'another run'}; "
                         f"a claim file already issued is never replaced by another run's: give a new folder")


def export_claim_file(target: str, run_id: str, out: Path, *, config: CouncilConfig, audit_path: Path | None,
                      operator: str | None, record_id: str | None = None, step: Step = direct) -> Path:
    """``tfclaims ledger export``: a run's claim file again, from the ledger (e.g. after a crash after the claims were recorded)."""
    key = config.required_reference_key()
    _check_claim_file_is_the_runs(Path(out), run_id)
    with ledger_action("ledger export", target, audit_path=audit_path, operator=operator, run_id=run_id, out=str(out),
                       record_id=record_id) as (book, rec):
        claims = step("read the ledger", book.claims)
        claims = claims[(claims["run_id"] == run_id) & (claims["status"] == "claimed")]
        if not len(claims):
            raise InputError(f"the ledger holds no live claims of run {run_id}")
        claims = claims.assign(family_reference=family_reference(claims["family_id"], key))
        rec.touched(family_ids=claims["family_id"])
        return RunFiles(Path(out), rec).csv(run_files.CLAIM_FILE_CSV, claim_file_frame(claims))


def reissue_after_withdrawal(book: Any, rec: audit.RunRecord, withdrawn: list[str], *, key: str | None, by: str,
                             on: dt.date | None = None) -> list[Reissue]:
    """Write again the claim file, claim register and finance summary of every claim run that issued
    one of the ``withdrawn`` claims, keeping the files they replace as superseded (:mod:`tfclaims.claim.reissue`)."""
    from tfclaims.claim.runs import run_folder

    on = on or dt.date.today()
    claims = book.claims()
    gone = claims[claims["claim_reference"].isin(withdrawn)]
    done: list[Reissue] = []
    for run_id, group in gone.groupby("run_id", sort=True):
        refs = sorted(group["claim_reference"].astype(str))
        folder = run_folder(book, str(run_id))
        summary_path = folder / run_files.RUN_SUMMARY_JSON if folder is not None else None
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path is not None else {}
        except (OSError, ValueError):
            summary = {}
        if summary.get("run_id") != run_id or "finance_summary" not in summary or not (folder / run_files.CLAIM_FILE_CSV).exists():
            done.append(Reissue(str(run_id), refs, None, why=f"its folder ({folder or 'not recorded'}) does not hold its files"))
            continue
        run_key = DEMO_REFERENCE_KEY if summary.get("demo_reference_key") else key
        if not run_key:
            done.append(Reissue(str(run_id), refs, None, why="no reference key was given (TFCLAIMS_REFERENCE_KEY or --config)"))
            continue
        issue = next_issue(folder)
        files = RunFiles(folder, rec)
        old_fs = finance.FinanceSummary.from_record(summary["finance_summary"])
        superseded = [superseded_name(name, issue) for name in REISSUED_FILES]
        for name, old_name in zip(REISSUED_FILES[:2], superseded[:2]):
            files.write(old_name, lambda p, src=folder / name: _copy_atomically(src, p))
        files.write(superseded[2], lambda p: finance.write_finance_summary(old_fs.superseded_by(on, issue), p))
        live = claims[(claims["run_id"] == run_id) & (claims["status"] == "claimed")]
        files.csv(run_files.CLAIM_FILE_CSV, claim_file_frame(live.assign(family_reference=family_reference(live["family_id"], run_key))))
        register = pd.read_csv(folder / run_files.CLAIM_REGISTER_CSV, dtype=str, keep_default_na=False)
        files.csv(run_files.CLAIM_REGISTER_CSV, corrected_register(register, set(refs)))
        new_fs = old_fs.without(group[["route", "amount_pence"]], on=on, by=by, first_issued=old_fs.produced_on)
        files.write(run_files.FINANCE_SUMMARY_XLSX, lambda p: finance.write_finance_summary(new_fs, p))
        result = Reissue(str(run_id), refs, folder, issue, list(REISSUED_FILES), superseded, int(len(live)), on)
        summary["finance_summary"] = new_fs.to_record()
        summary["reissues"] = [*summary.get("reissues", []), result.record()]
        refresh_report(files, summary, book, command=rec.command, on=on)  # never shows a withdrawn claim as claimed
        listed = {f["name"] for f in files.files}
        summary["outputs"] = [f for f in summary.get("outputs", []) if f["name"] not in listed] + files.files
        write_json(summary, summary_path)
        rec.touched(family_ids=group["family_id"])
        done.append(result)
        rec.note("reissued", [{"run_id": r.run_id, "issue": r.issue, "withdrawn": r.withdrawn} for r in done if r.folder is not None])
    return done


def refresh_report(files: RunFiles, summary: dict[str, Any], book: Any, *, command: str, on: dt.date) -> None:
    """Draw a claim run's ``report.html`` again in its folder, after a withdrawal or a reconcile:
    the claims per window from the ledger as it is now, the run summary as it is now (``summary``,
    whose ``report`` facts get the day and command); the sample from ``spot_check_sample.csv`` when
    the summary has none (a ``spot-check`` into the run's folder). The caller writes the summary."""
    facts = dict(summary.get("report") or {})
    framework = (summary.get("framework") or {}).get("framework")
    if book is not None and framework and not summary.get("dry_run"):
        facts["windows"] = run_report.claims_by_window(book.claims(framework))
    facts["refreshed_on"], facts["refreshed_by_command"] = on.isoformat(), f"tfclaims {command}"
    summary["report"] = facts
    page = dict(summary)
    sample_csv = files.out / run_files.SPOT_CHECK_SAMPLE_CSV
    if "spot_check" not in page and sample_csv.is_file():
        sample = pd.read_csv(sample_csv, dtype="str", keep_default_na=False)
        page["spot_check"] = {"population": summary.get("claims", 0), "sampled": int((sample["stratum"] != "discretionary").sum()),
                              "discretionary": int((sample["stratum"] == "discretionary").sum()), "seed": "as on spot_check.xlsx, sheet Method",
                              **run_report.sample_facts(sample)}
    files.write(run_files.REPORT_HTML, lambda p: run_report.write_report(page, p))


def _reconciliation_record(result: Any, on: dt.date) -> dict[str, Any]:
    """A reconcile's results for the claim run's summary and page: counts and claim references only
    (no family ids, no auditor's notes)."""
    s = result.summary()
    keep = ("population_size", "sampled", "valid", "invalid", "query", "error_rate", "error_rate_wilson_95",
            "projected_invalid_in_population", "withdrawn_now", "already_withdrawn", "may_go_forward", "blockers")
    return {**{k: s.get(k) for k in keep}, "reconciled_on": on.isoformat(),
            "open_queries": [q["claim_reference"] for q in s.get("open_queries", [])],
            "verdicts": [{"claim_reference": str(r.claim_reference), "route": str(r.route), "verdict": str(r.verdict)}
                         for r in result.table.itertuples(index=False)]}


def _reconciled_runs(book: Any, result: Any) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The claim runs whose claims the verdicts are about, with their folders and summaries (runs whose
    folder does not hold their summary are left out)."""
    from tfclaims.claim.runs import run_folder

    claims = book.claims()
    run_ids = sorted(set(claims.loc[claims["claim_reference"].isin(result.table["claim_reference"]), "run_id"].astype(str)))
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for run_id in run_ids:
        folder = run_folder(book, run_id)
        try:
            summary = json.loads((folder / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8")) if folder is not None else {}
        except (OSError, ValueError):
            continue
        if summary.get("run_id") == run_id:
            found[run_id] = (folder, summary)
    return found


def _copy_atomically(src: Path, dst: Path) -> None:
    with atomic_write(dst) as fh, open(src, "rb") as old:
        shutil.copyfileobj(old, fh)


def _open_ledger(claim: ClaimOptions) -> Any:
    from tfclaims.claim.ledger import Ledger, NoLedger

    if claim.ledger is None:
        if claim.dry_run:
            return None
        raise InputError("--ledger is required (a SQLite file path or a postgresql:// URL), unless --dry-run")
    if claim.dry_run:
        try:
            return Ledger.open(claim.ledger, create=False, key=claim.reference_key, council=claim.council.council_code)
        except NoLedger:
            return None  # no ledger yet: nothing claimed before
    return Ledger.open(claim.ledger, key=claim.reference_key, council=claim.council.council_code)


# ----------------------------------------------------------------------------------------------
# no claim without its record: the claim run's states (tfclaims.claim.runs)
#
#   1. the run is marked pending in the ledger, then a "pending" audit record is appended;
#   2. the claims are recorded (one transaction);
#   3. the run's files are written (the claim file among them);
#   4. its audit record is appended (the seal), then the run is marked sealed.
#
# A crash between 1 and 2 leaves a pending run with no claims: the next claim run closes it
# ("abandoned"). A crash after 2 leaves claims: the next claim run writes the run's claim file again
# from the ledger into the run's folder and appends its audit record ("recovered").


def _begin_claim_run(opts: ClaimOptions, ledger: Any, rec: audit.RunRecord, framework: str) -> None:
    from tfclaims.claim.runs import begin_run

    log = audit_log(opts.audit, ledger)
    begin_run(ledger, run_id=opts.run_id, framework=framework, period_end=opts.period_end, out=str(opts.out), audit_path=log.name)
    crash_point("run marked pending")
    log.append(rec.to_record("pending"), audit.resolve_key(opts.council)[0])
    crash_point("pending record appended")


@contextmanager
def _claim_run_sealed(opts: ClaimOptions, ledger: Any) -> Iterator[None]:
    """After the run's audit record is appended (the block ends), mark the run sealed in the ledger.
    A run that fails after recording claims says what happens to them."""
    try:
        yield
    except BaseException as exc:
        if ledger is not None and not opts.dry_run:
            recorded = ledger.claims()
            n = int((recorded["run_id"] == opts.run_id).sum())
            if n:
                exc.add_note(f"{n} claim(s) of run {opts.run_id} were recorded in the ledger before it stopped: the next "
                             "`tfclaims claim` or `tfclaims run` finishes this run (its claim file written again from the ledger, "
                             f"its audit record added), or write the claim file now with `tfclaims ledger export --run-id {opts.run_id}`")
        raise
    if ledger is not None and not opts.dry_run:
        from tfclaims.claim.runs import finish_run

        crash_point("audit record appended")
        finish_run(ledger, opts.run_id, "sealed")


def recover_claim_runs(ledger: Any, opts: ClaimOptions) -> list[dict[str, Any]]:
    """Finish or close every claim run that stopped before it was sealed; say what was done."""
    from tfclaims.claim.runs import finish_run, pending_runs

    done: list[dict[str, Any]] = []
    for run in pending_runs(ledger):
        claims = ledger.claims(run.framework)
        claims = claims[claims["run_id"] == run.run_id]
        trail = None if ledger.keeps_audit_chain else Path(run.audit_path)
        if not len(claims):
            with audit_context("claim recovery", {"run": run.run_id, "outcome": "abandoned"}, audit_path=trail, operator=opts.operator,
                               config=opts.council, ledger=ledger) as rec:
                rec.note("claims", 0)
            finish_run(ledger, run.run_id, "abandoned")
            done.append({"run_id": run.run_id, "outcome": "abandoned", "claims": 0})
            warn(f"claim run {run.run_id} had stopped before recording any claim: closed (nothing was claimed)")
            continue
        sealed = any(r.get("run_id") == run.run_id and r.get("status") == "succeeded" for r in audit_log(trail, ledger).records())
        if sealed:  # it stopped between its audit record and marking itself sealed
            finish_run(ledger, run.run_id, "sealed")
            continue
        live = claims[claims["status"] == "claimed"]
        out = Path(run.out)
        with audit_context("claim recovery", {"run": run.run_id, "outcome": "recovered", "out": str(out)}, audit_path=trail,
                           operator=opts.operator, config=opts.council, ledger=ledger) as rec:
            rec.touched(family_ids=claims["family_id"])
            rec.note("claims", int(len(live)))
            rec.note("claim_references_sha256", claim_references_sha256(live["claim_reference"]))
            if len(live):
                frame = claim_file_frame(live.assign(family_reference=family_reference(live["family_id"], opts.reference_key)))
                out.mkdir(parents=True, exist_ok=True)
                RunFiles(out, rec).csv(run_files.CLAIM_FILE_CSV, frame)
        finish_run(ledger, run.run_id, "recovered")
        done.append({"run_id": run.run_id, "outcome": "recovered", "claims": int(len(live)), "claim_file": str(out / run_files.CLAIM_FILE_CSV)})
        warn(f"claim run {run.run_id} had stopped after recording {len(live)} claim(s): its claim file is written again from the "
             f"ledger ({out / run_files.CLAIM_FILE_CSV}) and its audit record added")
    return done


def _recorded_outcome(opts: ClaimOptions, ledger: Any) -> Outcome | None:
    """With ``--once``: the claim run this council already finished for the framework and period end
    (its summary, from its folder), instead of running again; None when there is none (or no --once).
    Nothing is read from the cohort and nothing is written, so there is no audit record."""
    if not opts.once or ledger is None or opts.dry_run:
        return None
    from tfclaims.claim.runs import recorded_run

    framework = opts.load_framework().name
    run = recorded_run(ledger, framework, opts.period_end)
    if run is None:
        return None
    out = Path(run.out)
    stopped = "the run stopped after recording its claims; its claim file was written again from the ledger"
    try:
        summary = json.loads((out / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8"))
        if summary.get("status") != "succeeded":  # it stopped after its claim's summary (the spot check unfinished)
            summary |= {"status": "recovered", "note": stopped}
    except (OSError, ValueError):  # a recovered run's folder holds its claim file, not its summary: its claims from the ledger
        live = ledger.claims(framework)
        live = live[(live["run_id"] == run.run_id) & (live["status"] == "claimed")]
        summary = {"run_id": run.run_id, "status": "recovered", "framework": {"framework": framework}, "period_end": opts.period_end.isoformat(),
                   "claims": int(len(live)), "amount_gbp": pence_to_gbp(pd.Series([int(live["amount_pence"].sum())])).iloc[0],
                   "decisions": {}, "note": stopped}
    warn(f"--once: claim run {run.run_id} already made this council's claim under {framework} for period end "
         f"{opts.period_end.isoformat()} (its outputs are in {out}); nothing was run again")
    return Outcome(run.run_id, out, {**summary, "recorded_run": True, "recorded_run_folder": str(out)})


def claim(opts: ClaimOptions, *, step: Step = direct) -> Outcome:
    """``tfclaims claim``: decisions, claim file, finance summary; claims recorded in the ledger unless dry run."""
    ledger = _open_ledger(opts)
    try:
        recovered = recover_claim_runs(ledger, opts) if ledger is not None and not opts.dry_run else []
        if (done := _recorded_outcome(opts, ledger)) is not None:
            return done
        with _claim_run_sealed(opts, ledger), _audited(opts, ledger=ledger) as rec:
            with RunFiles(opts.out, rec) as files:
                facts = _claim_stage(opts, files, rec, step, ledger)
                prep = facts.pop("prep")
                summary = _summary("claim", opts, prep, rec, **facts, recovered=recovered, status="succeeded")
                outcome = Outcome(opts.run_id, opts.out, _finish(files, summary), facts)
                crash_point("run files written")
        return outcome
    finally:
        if ledger is not None:
            ledger.close()


# ----------------------------------------------------------------------------------------------
# spot check, run, demo


def _spot_check_stage(claim_dir: Path, out: Path, sample: SampleFields, files: RunFiles | None) -> dict[str, Any]:
    from tfclaims.spot_check import run_spot_check

    run = run_spot_check(claim_dir, out, rate=sample.rate, min_n=sample.min_n, seed=sample.seed)
    if files is not None:
        files.adopt(run.sample_csv)
        files.adopt(run.workbook)
    s = run.sample
    return {"seed": s.seed, "seed_generated": s.seed_generated, "population": s.population_size, "sampled": s.sample_size,
            "discretionary": s.discretionary_count, "reproduce": run.command, "workbook": str(run.workbook),
            "rate": s.rate, "min_n": s.min_n, **run_report.sample_facts(s.sample)}


def spot_check(opts: SpotCheckOptions, *, step: Step = direct) -> dict[str, Any]:
    """``tfclaims spot-check``: the internal-audit sample and workbook (purpose: spot checks)."""
    claim_dir, out = opts.claim_dir, opts.out
    with _audited(opts) as rec:
        rec.input(claim_dir / run_files.CLAIM_REGISTER_CSV)
        register = pd.read_csv(claim_dir / run_files.CLAIM_REGISTER_CSV, dtype="str", keep_default_na=False, na_values=[""])
        rec.touched(family_ids=register["family_id"].dropna())
        files = RunFiles(out, rec)
        facts = step("spot check", _spot_check_stage, claim_dir, out, opts, files)
        _spot_check_report(claim_dir, opts, facts, files)
        rec.note("seed", facts["seed"])
        rec.note("sampled", facts["sampled"] + facts["discretionary"])
        return facts


def _spot_check_report(claim_dir: Path, opts: SpotCheckOptions, facts: dict[str, Any], files: RunFiles) -> None:
    """The spot check's page. Into the claim run's own folder (the default ``--out``): the claim run's
    page again with the sample (its ``run_summary.json`` is left as the spot check read it: its hash is
    on the Method sheet). Into another folder: a page of the sample alone, naming the claim run."""
    try:
        claim = json.loads((claim_dir / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        claim = {}
    if files.out.resolve() == claim_dir.resolve() and claim:
        page = {**claim, "spot_check": facts}
    else:
        fs = claim.get("finance_summary") or {}
        page = {"command": "spot-check", "run_id": opts.run_id, "claim_run_id": claim.get("run_id"), "tfclaims_version": tfclaims.__version__,
                "period_end": claim.get("period_end"), "spot_check": facts,
                "report": {**run_report.report_facts(council=(claim.get("report") or {}).get("council") or opts.council.council_name),
                           "framework": fs.get("framework") or (claim.get("report") or {}).get("framework")}}
    files.write(run_files.REPORT_HTML, lambda p: run_report.write_report(page, p))


def run(opts: RunOptions, *, step: Step = direct, command: str = "run") -> Outcome:
    """``tfclaims run``: ingest -> link -> identify -> track -> claim -> spot-check into one folder."""
    ledger = _open_ledger(opts)
    try:
        recovered = recover_claim_runs(ledger, opts) if ledger is not None and not opts.dry_run else []
        if (done := _recorded_outcome(opts, ledger)) is not None:
            return done
        with _claim_run_sealed(opts, ledger), _audited(opts, ledger=ledger, command=command) as rec:
            with RunFiles(opts.out, rec) as files:
                facts = _claim_stage(opts, files, rec, step, ledger)
                facts["recovered"] = recovered
                prep = facts.pop("prep")
                # the claim's summary first: the spot check reads it (run id, framework, input hashes)
                _finish(files, _summary(command, opts, prep, rec, **facts, status="claim written; spot check running"), wait=False, report=False)
                progress("drawing the spot-check sample")
                spot = step("spot check", _spot_check_stage, opts.out, opts.out, opts, files)
                rec.note("seed", spot["seed"])
                summary = _summary(command, opts, prep, rec, **facts, spot_check=spot, status="succeeded")
                outcome = Outcome(opts.run_id, opts.out, _finish(files, summary), {**facts, "spot_check": spot})
                crash_point("run files written")
        return outcome
    finally:
        if ledger is not None:
            ledger.close()


DEMO_PERIOD_END = dt.date(2020, 3, 31)


DEMO_SEED = 20200331
DEMO_MARKER = ".tfclaims-demo"


def demo_folder(opts: DemoOptions) -> tuple[Path, Workspace | None]:
    """Where the demo writes, and the workspace it is in: ``--out``, else ``reports/demo`` in the
    workspace, else ``./tfclaims-demo`` made a workspace of its own (the demo needs no set-up)."""
    ws = find_workspace()
    if opts.out is not None:
        return opts.out, ws
    if ws is None:
        ws, _ = init_workspace(Path.cwd() / DEMO_FOLDER)
    return ws.reports_dir / "demo", ws


def _is_demo_folder(out: Path) -> bool:
    if (out / DEMO_MARKER).is_file():
        return True
    try:  # a demo folder written before the marker existed
        return json.loads((out / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8")).get("command") == "demo"
    except (OSError, ValueError, AttributeError):
        return False


def _clear_demo_folder(out: Path) -> None:
    """Start the demo afresh, but only over an earlier demo: any other folder that holds files is refused,
    and so is a demo folder whose auditor workbook someone has started."""
    if out.is_dir() and any(out.iterdir()):
        check_workbook_not_started(out)
        if not _is_demo_folder(out):
            raise InputError(f"--out {out}: the folder is not empty and holds no earlier demo; the demo starts its folder afresh, "
                             "so give an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("this folder holds the tfclaims demo; the next demo replaces it\n", encoding="utf-8")


def demo_run_options(opts: DemoOptions, out: Path) -> RunOptions:
    return RunOptions.of(input=SAMPLE_COHORT_DIR, out=out, audit=out / "audit.jsonl", ledger=str(out / "ledger.sqlite"),
                         period_end=DEMO_PERIOD_END, seed=opts.seed if opts.seed is not None else DEMO_SEED,
                         sample_rate=opts.sample_rate, sample_min=opts.sample_min, council=opts.council, demo_key=True,
                         operator=opts.operator, run_id=opts.run_id)


def demo(opts: DemoOptions, *, step: Step = direct) -> Outcome:
    """``tfclaims demo``: the whole pipeline on the built-in sample cohort, into its own folder.

    The demo keeps its own ledger and audit trail inside its folder and starts them afresh each time,
    so the sample families never enter a council's real ledger and a second demo shows the same claims.
    """
    out, _ = demo_folder(opts)
    run_opts = demo_run_options(opts, out)
    _clear_demo_folder(out)
    return run(run_opts, step=step, command="demo")


def reconcile(opts: ReconcileOptions, *, step: Step = direct) -> Any:
    """``tfclaims reconcile``: the auditor's verdicts back into the ledger; invalid claims withdrawn.

    Every problem in the workbook is found (and reported by cell) before the ledger is opened."""
    from tfclaims.claim.ledger import Ledger
    from tfclaims.spot_check import read_verdicts, reconcile as apply_verdicts, write_reconciliation

    table = step("read verdicts", read_verdicts, opts.verdicts)
    with Ledger.open(opts.ledger, create=False, key=opts.council.resolved_reference_key(), council=opts.council.council_code) as book:
        with _audited(opts, ledger=book) as rec:
            rec.input(opts.verdicts, rows=len(table))
            rec.touched(family_ids=table["family_id"].dropna())
            result = step("record verdicts in the ledger", apply_verdicts, table, book, opts.operator)
            csv_path, json_path = write_reconciliation(result, opts.out)
            rec.output(csv_path)
            rec.output(json_path)
            on = dt.date.today()
            runs = _reconciled_runs(book, result)
            for folder, summary in runs.values():  # the results on the claim run's page (re-issue draws it too)
                summary["reconciliation"] = _reconciliation_record(result, on)
                write_json(summary, folder / run_files.RUN_SUMMARY_JSON)
            reissued = step("re-issue the claim files", reissue_after_withdrawal, book, rec, result.withdrawn_now,
                            key=opts.council.resolved_reference_key(), by=opts.operator or "", on=on)
            redrawn = {r.run_id for r in reissued if r.folder is not None}
            for run_id, (folder, summary) in runs.items():
                if run_id in redrawn:
                    continue
                files = RunFiles(folder, rec)
                refresh_report(files, summary, book, command=rec.command, on=on)
                summary["outputs"] = [f for f in summary.get("outputs", []) if f["name"] != run_files.REPORT_HTML] + files.files
                write_json(summary, folder / run_files.RUN_SUMMARY_JSON)
    return result, csv_path, json_path, reissued


# ----------------------------------------------------------------------------------------------
# forecast and compare-plans: looking ahead with the claim's own engine; nothing is claimed


def _read_only_ledger_state(target: str | None, framework: str, council: str | None) -> tuple[Any, Any]:
    """The ledger's state for a look-ahead (read only): an empty one when there is no ledger yet."""
    from tfclaims.claim.decide import LedgerState
    from tfclaims.claim.ledger import Ledger, NoLedger

    if target is None:
        return None, LedgerState.empty()
    try:
        book = Ledger.open(target, create=False, council=council)
    except NoLedger:
        return None, LedgerState.empty()  # no ledger yet: nothing claimed before
    try:
        book.check_integrity()
        return str(book.target), ledger_state(book, framework)
    finally:
        book.close()


def _forecast_words(fw: Framework) -> dict[str, str]:
    return {code: h.label for code, h in fw.headlines.items()}


def forecast_for_people(result: Any) -> dict[str, pd.DataFrame]:
    """The forecast workbook's sheets: the claim windows, the families (soonest first), what holds
    each back, the near misses; words first, codes in their own columns after them."""
    windows = result.windows
    sheets = {
        "Claim windows": pd.DataFrame({
            "period_end": windows["period_end"], "window": windows["window"],
            "families_becoming_claimable": windows["families_becoming_claimable"], "amount": windows["amount_pence"],
            "claims_to_date": windows["claims_to_date"], "allocation": windows["allocation"], "allocation_left": windows["allocation_left"],
        }),
        "Families": result.families.rename(columns={"amount_pence": "amount"})[
            ["family_id", "in_words", "claimable_from", "route", "amount", "what_holds_it_back", "status", "attached_on", "as_of",
             "status_code", "route_code", "reason_now_code", "reason_at_horizon_code"]],
        "What holds them back": result.blockers[["family_id", "blocker", "unblocks", "cleared_on", "status_now", "detail_now",
                                                 "detail_at_horizon", "holds_until_horizon", "blocker_code"]],
        "Near misses": result.near_misses,
    }
    return sheets


def forecast(opts: Any, *, step: Step = direct) -> Outcome:
    """``tfclaims forecast``: when each attached family not yet claimed becomes claimable, by which
    route, and what holds it back, on the data as held at ``--as-of``; near misses. Reads the ledger
    (its claims are left out); records nothing in it and claims nothing (purpose: tracking)."""
    from tfclaims import forecast as look_ahead

    fw, as_of = opts.load_framework(), opts.as_of
    with _audited(opts) as rec:
        _record_framework(rec, fw)
        files = RunFiles(opts.out, rec)
        ledger_shown, state = step("read ledger", _read_only_ledger_state, opts.ledger, fw.name, opts.council.council_code)
        rec.note("ledger_read", ledger_shown or "none (nothing claimed before)")
        prep = _prepare(opts, files, rec, step)
        progress(f"forecasting from {as_of} over {opts.horizon} months")
        result = look_ahead.forecast(prep.cohort, fw, as_of, opts.horizon, state=state, allocation=opts.allocation,
                                     council_allocation=opts.council.allocation, step=step)
        files.csv(run_files.FORECAST_CSV, result.families)
        files.csv(run_files.FORECAST_BLOCKERS_CSV, result.blockers)
        files.csv(run_files.FORECAST_WINDOWS_CSV, result.windows)
        files.csv(run_files.NEAR_MISSES_CSV, result.near_misses)
        cut = (f" The programme's last period end, {result.programme_end.isoformat()}, comes before the horizon's end."
               if result.programme_end else "")
        files.xlsx(run_files.FORECAST_XLSX, lambda: forecast_for_people(result), notes={
            "Claim windows": [f"Forecast from {as_of.isoformat()} over {opts.horizon} months (to {result.horizon_end.isoformat()}) under "
                              f"{look_ahead.rules_name(fw)}: the data as held on {as_of.isoformat()}, nothing new after it." + cut,
                              "A look-ahead: nothing is claimed and nothing is recorded in the ledger. Families becoming claimable in each "
                              "window are those a claim run with that period end would claim first then."],
            "Families": ["Every attached family not yet claimed, soonest claimable first."],
            "What holds them back": ["Each headline or condition that holds a family back on the as-of date, in the rules engine's words, "
                                     "and the first claim window by which it clears (blank: not within the horizon)."],
            "Near misses": ["Families one headline short of eligibility, and attached families one headline or one condition short of a claim."],
        }, rows=max(len(result.families), len(result.blockers), len(result.near_misses)),
            csv=(run_files.FORECAST_CSV, run_files.FORECAST_BLOCKERS_CSV, run_files.NEAR_MISSES_CSV), money=("amount",))
        rec.touched(family_ids=result.families["family_id"])
        n = result.families["status_code"].value_counts()
        rec.note("families_forecast", int(len(result.families)))
        rec.note("claimable_within_horizon", int(n.get("claimable_now", 0) + n.get("claimable", 0)))
        facts = _forecast_facts(opts, fw, result, prep)
        summary = _summary("forecast", opts, prep, rec, framework=fw.audit_record(), as_of=as_of.isoformat(), ledger=ledger_shown,
                           forecast=facts["forecast"], status="succeeded", report=facts["report"])
        return Outcome(opts.run_id, opts.out, _finish(files, summary), {"result": result})


def _forecast_facts(opts: Any, fw: Framework, result: Any, prep: Prepared) -> dict[str, Any]:
    """The forecast's facts for the run summary and its page: counts and money only (no family ids)."""
    fams = result.families
    counts = fams["status_code"].value_counts()
    windows = [{"period_end": r.period_end.date().isoformat(), "window": str(r.window), "families": int(r.families_becoming_claimable),
                "amount_pence": int(r.amount_pence), "claims_to_date": int(r.claims_to_date),
                "allocation": None if pd.isna(r.allocation) else int(r.allocation)} for r in result.windows.itertuples(index=False)]
    holding = result.blockers[result.blockers["holds_until_horizon"]]
    never = set(fams.loc[fams["status_code"] == "not_within_horizon", "family_id"])
    holding = holding[holding["family_id"].isin(never)]
    blockers = holding.groupby("blocker", sort=False)["family_id"].nunique().sort_values(ascending=False)
    near = result.near_misses.groupby("kind")["family_id"].nunique()
    forecast_facts = {
        "as_of": result.as_of.isoformat(), "horizon_months": result.horizon_months, "horizon_end": result.horizon_end.isoformat(),
        "programme_end": result.programme_end.isoformat() if result.programme_end else None,
        "families": int(len(fams)), "claimable_now": int(counts.get("claimable_now", 0)), "claimable_later": int(counts.get("claimable", 0)),
        "not_within_horizon": int(counts.get("not_within_horizon", 0)), "claims_before": result.claims_before,
        "allocation": result.allocation, "windows": windows,
        "holding_back": [{"blocker": str(k), "families": int(v)} for k, v in blockers.items()],
        "near_misses": {str(k): int(v) for k, v in near.items()},
        "as_held": {"dropped": result.held.dropped, "reopened": result.held.reopened},
    }
    report = run_report.report_facts(council=opts.council.council_name, framework=fw, link=_link_facts(prep))
    return {"forecast": forecast_facts, "report": report}


def compare_plans(opts: Any, *, step: Step = direct) -> Outcome:
    """``tfclaims compare-plans``: the families whose eligibility, outcome status or claim decision
    differ under two sets of rules at ``--as-of``, why, and the totals either way (purpose: tracking)."""
    from tfclaims import forecast as look_ahead

    fw_a, fw_b = opts.load_frameworks()
    as_of = opts.as_of
    with _audited(opts) as rec:
        _record_framework(rec, fw_a)
        _record_framework(rec, fw_b)
        files = RunFiles(opts.out, rec)
        council = opts.council.council_code
        shown_a, state_a = step("read ledger", _read_only_ledger_state, opts.ledger, fw_a.name, council)
        _, state_b = (shown_a, state_a) if fw_b.name == fw_a.name else _read_only_ledger_state(opts.ledger, fw_b.name, council)
        prep = _prepare(opts, files, rec, step)
        progress(f"comparing {look_ahead.rules_name(fw_a)} with {look_ahead.rules_name(fw_b)} at {as_of}")
        result = look_ahead.compare_plans(prep.cohort, fw_a, fw_b, as_of, state_a=state_a, state_b=state_b, allocation=opts.allocation,
                                          council_allocation=opts.council.allocation, step=step)
        files.csv(run_files.PLAN_DIFFERENCES_CSV, result.differences)
        files.csv(run_files.PLAN_TOTALS_CSV, result.totals)
        totals = result.totals.rename(columns={"amount_pence": "amount"})
        files.xlsx(run_files.PLAN_COMPARISON_XLSX, lambda: {"Totals": totals, "Differences": result.differences}, notes={
            "Totals": [f"A: {result.names[0]}. B: {result.names[1]}. At {as_of.isoformat()} (a claim run with this period end); "
                       "nothing is claimed and nothing is recorded in the ledger."],
            "Differences": ["Every family whose eligibility, outcome status (per headline) or claim decision differs, with the rules "
                            "engine's words under A and under B."],
        }, rows=len(result.differences), csv=(run_files.PLAN_DIFFERENCES_CSV,), money=("amount",))
        rec.touched(family_ids=result.differences["family_id"])
        rec.note("differences", int(len(result.differences)))
        by_what = result.differences.groupby("what")["family_id"].nunique()
        facts = {"as_of": as_of.isoformat(), "a": result.names[0], "b": result.names[1],
                 "families_differing": {str(k): int(v) for k, v in by_what.items()},
                 "totals": [{k: (int(v) if isinstance(v, (int, np.integer)) else str(v)) for k, v in r.items()}
                            for r in result.totals.to_dict("records")]}
        report = run_report.report_facts(council=opts.council.council_name, framework=fw_a, link=_link_facts(prep))
        summary = _summary("compare-plans", opts, prep, rec, frameworks=[fw_a.audit_record(), fw_b.audit_record()], as_of=as_of.isoformat(),
                           comparison=facts, status="succeeded", report=report)
        return Outcome(opts.run_id, opts.out, _finish(files, summary), {"result": result})
