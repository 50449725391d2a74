"""The claim runs a ledger has seen, so that no claim is ever left without its record.

A claim run that records claims goes through these states, each written before the next step:

    pending    the run is about to record claims (a row here, then a "pending" audit record)
    sealed     its claims, claim file and audit record are all written
    recovered  it stopped after recording its claims; a later run wrote its claim file again from
               the ledger and added the audit record
    abandoned  it stopped before recording any claim; a later run said so in the audit trail

A run that dies at any moment leaves a ``pending`` row. The next claim run finds it and, from
the ledger alone, either finishes it (its claims are there) or closes it (they are not). The
table lives in the ledger's own database, beside the claims it speaks for.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tfclaims.claim.ledger import Ledger

__all__ = ["PendingRun", "begin_run", "finish_run", "pending_runs", "recorded_run", "run_folder", "crash_point", "CRASH_ENV", "STATES"]

STATES = ("pending", "sealed", "recovered", "abandoned")
CRASH_ENV = "TFCLAIMS_CRASH_AT"

_metadata = sa.MetaData()
claim_runs = sa.Table(
    "claim_runs",
    _metadata,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("framework", sa.String, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("out", sa.String, nullable=False),
    sa.Column("audit_path", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.CheckConstraint("status IN ('pending', 'sealed', 'recovered', 'abandoned')", name="ck_claim_runs_status"),
)


@dataclass(frozen=True)
class PendingRun:
    run_id: str
    framework: str
    period_end: dt.date
    out: str
    audit_path: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _table(ledger: Ledger) -> sa.Table:
    """The table, made if missing. Two runs may open a ledger at once: ``CREATE TABLE IF NOT EXISTS``,
    and a creation that still loses a race (PostgreSQL's catalogue) is fine once the table is there."""
    try:
        with ledger.engine.begin() as conn:
            conn.execute(sa.schema.CreateTable(claim_runs, if_not_exists=True))
    except sa.exc.DBAPIError:
        if not sa.inspect(ledger.engine).has_table("claim_runs"):
            raise
    return claim_runs


def begin_run(ledger: Ledger, *, run_id: str, framework: str, period_end: dt.date, out: str, audit_path: str) -> None:
    """Mark a run ``pending`` (committed at once) before it records any claim."""
    table = _table(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(table.insert().values(run_id=run_id, framework=framework, period_end=period_end, out=out,
                                           audit_path=audit_path, status="pending", started_at=_now()))


def finish_run(ledger: Ledger, run_id: str, status: str) -> None:
    """Close a run: ``sealed``, ``recovered`` or ``abandoned``."""
    if status not in STATES[1:]:
        raise ValueError(f"a run finishes as one of {', '.join(STATES[1:])}, not {status!r}")
    table = _table(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(table.update().where(table.c.run_id == run_id).values(status=status, finished_at=_now()))


def pending_runs(ledger: Ledger) -> list[PendingRun]:
    """Runs that stopped before they were sealed, oldest first (none on a ledger that never had one)."""
    with ledger.engine.connect() as conn:
        if not sa.inspect(conn).has_table("claim_runs"):
            return []
        rows = conn.execute(sa.select(claim_runs).where(claim_runs.c.status == "pending").order_by(claim_runs.c.started_at)).mappings()
        return [PendingRun(r["run_id"], r["framework"], r["period_end"], r["out"], r["audit_path"]) for r in rows]


def recorded_run(ledger: Ledger, framework: str, period_end: dt.date) -> PendingRun | None:
    """The latest finished claim run (sealed or recovered) of this ledger's council for the framework and
    period end, or None: what a re-executed run returns instead of running again."""
    with ledger.engine.connect() as conn:
        if not sa.inspect(conn).has_table("claim_runs"):
            return None
        r = conn.execute(sa.select(claim_runs).where(claim_runs.c.framework == framework, claim_runs.c.period_end == period_end,
                                                     claim_runs.c.status.in_(("sealed", "recovered")))
                         .order_by(claim_runs.c.started_at.desc()).limit(1)).mappings().first()
    return None if r is None else PendingRun(r["run_id"], r["framework"], r["period_end"], r["out"], r["audit_path"])


def run_folder(ledger: Ledger, run_id: str) -> Path | None:
    """The output folder a claim run recorded when it began (None for a run the table does not know)."""
    with ledger.engine.connect() as conn:
        if not sa.inspect(conn).has_table("claim_runs"):
            return None
        out = conn.execute(sa.select(claim_runs.c.out).where(claim_runs.c.run_id == run_id)).scalar()
    return None if out is None else Path(out)


def crash_point(name: str) -> None:
    """Fault injection for the crash-safety tests: the process dies here, as if killed, when the
    environment variable ``TFCLAIMS_CRASH_AT`` names this point. Does nothing otherwise."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)
