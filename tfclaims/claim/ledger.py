"""The claims ledger: the durable record of claims, audit holds, discretionary approvals and the audit head.

SQLite by default (a file path, WAL journal), PostgreSQL by a ``postgresql://`` URL (psycopg 3).
The guarantees are the database's, not only this module's:

- **one live claim per family and framework**: a partial unique index on ``claims (family_id, framework)``
  over rows whose status is not ``withdrawn`` -- a raw ``INSERT`` of a second live claim fails;
- **a run is all or nothing**: :meth:`Ledger.record_claims` re-reads the ledger, decides and inserts in one
  transaction; any exception rolls it back;
- **runs are serialised**: every write transaction first takes the ledger's write lock (SQLite
  ``BEGIN IMMEDIATE``; PostgreSQL ``pg_advisory_xact_lock``), so two runs at once cannot both claim a family,
  and the second sees the first's claims as ``already_claimed``;
- **claim references come from the database**: ``TFC-000001`` is the claim's autoincrement / sequence
  number, allocated inside the locked transaction, so it is unique across concurrent runs and never
  reissued.

Money is integer pence throughout. ``claimed_at`` is UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tfclaims.schemas.claim import ROUTES
from tfclaims.schemas.spot_check import VERDICTS
from tfclaims.core.errors import InputError

SCHEMA_VERSION = 1
CLAIM_REFERENCE_PREFIX = "TFC-"

STATUSES = ("claimed", "withdrawn")

# pg_advisory_xact_lock key: the bytes of "tfclaims" as a signed 64-bit integer.
_PG_LOCK_KEY = int.from_bytes(b"tfclaims", "big")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("claim_number", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("claim_reference", sa.String(32), nullable=False, unique=True),
    sa.Column("family_id", sa.String, nullable=False),
    sa.Column("framework", sa.String, nullable=False),
    sa.Column("route", sa.String, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("amount_pence", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False, server_default="claimed"),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("withdrawal_reason", sa.String),
    sa.Column("withdrawn_on", sa.Date),
    sa.Column("withdrawn_by", sa.String),
    sa.Column("verdict", sa.String),
    sa.Column("verdict_note", sa.String),
    sa.Column("verdict_by", sa.String),
    sa.Column("verdict_on", sa.Date),
    sa.CheckConstraint(_in("route", ROUTES), name="ck_claims_route"),
    sa.CheckConstraint(_in("status", STATUSES), name="ck_claims_status"),
    sa.CheckConstraint(f"verdict IS NULL OR {_in('verdict', VERDICTS)}", name="ck_claims_verdict"),
    sa.CheckConstraint("amount_pence >= 0", name="ck_claims_amount"),
    sa.CheckConstraint(
        "(status = 'claimed' AND withdrawn_on IS NULL)"
        " OR (status = 'withdrawn' AND withdrawn_on IS NOT NULL AND withdrawal_reason IS NOT NULL)",
        name="ck_claims_withdrawal",
    ),
    sqlite_autoincrement=True,
)
# At most one non-withdrawn claim per (family, framework): enforced by the database.
sa.Index(
    "uq_claims_live_family",
    claims.c.family_id,
    claims.c.framework,
    unique=True,
    sqlite_where=claims.c.status != "withdrawn",
    postgresql_where=claims.c.status != "withdrawn",
)

holds = sa.Table(
    "holds",
    metadata,
    sa.Column("hold_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("family_id", sa.String, nullable=False),
    sa.Column("framework", sa.String, nullable=False),
    sa.Column("placed_on", sa.Date, nullable=False),
    sa.Column("claim_reference", sa.String(32), sa.ForeignKey("claims.claim_reference")),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("released_on", sa.Date),
    sa.Column("released_by", sa.String),
    sa.Column("release_reason", sa.String),
    sa.CheckConstraint(
        "(released_on IS NULL AND released_by IS NULL AND release_reason IS NULL)"
        " OR (released_on IS NOT NULL AND released_by IS NOT NULL AND release_reason IS NOT NULL)",
        name="ck_holds_release",
    ),
    sqlite_autoincrement=True,
)
sa.Index(
    "uq_holds_open_family",
    holds.c.family_id,
    holds.c.framework,
    unique=True,
    sqlite_where=holds.c.released_on.is_(None),
    postgresql_where=holds.c.released_on.is_(None),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("approval_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("family_id", sa.String, nullable=False),
    sa.Column("framework", sa.String, nullable=False),
    sa.Column("approved_by", sa.String, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("approved_on", sa.Date, nullable=False),
    sa.Column("used_by_claim_reference", sa.String(32), sa.ForeignKey("claims.claim_reference")),
    sqlite_autoincrement=True,
)
sa.Index(
    "uq_approvals_unused_family",
    approvals.c.family_id,
    approvals.c.framework,
    unique=True,
    sqlite_where=approvals.c.used_by_claim_reference.is_(None),
    postgresql_where=approvals.c.used_by_claim_reference.is_(None),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("audit_path", sa.String, primary_key=True),
    sa.Column("head_hash", sa.String, nullable=False),
    sa.Column("record_count", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("record_count >= 0", name="ck_audit_head_count"),
)

CLAIM_COLUMNS = [
    "claim_reference",
    "family_id",
    "framework",
    "route",
    "period_end",
    "amount_pence",
    "run_id",
    "status",
    "claimed_at",
    "withdrawal_reason",
    "withdrawn_on",
    "withdrawn_by",
    "verdict",
    "verdict_note",
    "verdict_by",
    "verdict_on",
]
APPROVAL_COLUMNS = ["family_id", "framework", "approved_by", "reason", "approved_on", "used_by_claim_reference"]
HOLD_COLUMNS = [
    "family_id",
    "framework",
    "placed_on",
    "claim_reference",
    "reason",
    "released_on",
    "released_by",
    "release_reason",
]
_DATE_COLUMNS = {
    "period_end",
    "claimed_at",
    "withdrawn_on",
    "verdict_on",
    "approved_on",
    "placed_on",
    "released_on",
}
_INT_COLUMNS = {"amount_pence"}


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RecordResult:
    """What :meth:`Ledger.record_claims` did. Family lists keep the candidates' order."""

    claimed: pd.DataFrame  # the inserted candidates, with ``claim_reference`` added
    already_claimed: list[str] = field(default_factory=list)
    audit_hold: list[str] = field(default_factory=list)
    over_allocation: list[str] = field(default_factory=list)
    claims_to_date: int = 0  # live claims of the framework before this run
    used_approvals: list[str] = field(default_factory=list)  # families whose discretionary approval was used


@dataclass(frozen=True)
class Withdrawal:
    claim_reference: str
    family_id: str
    framework: str
    reason: str
    withdrawn_on: dt.date
    withdrawn_by: str
    hold_placed: bool


@dataclass(frozen=True)
class Release:
    family_id: str
    framework: str
    claim_reference: str | None  # the withdrawn claim that caused the hold
    reason: str
    released_on: dt.date
    released_by: str


@dataclass(frozen=True)
class Approval:
    family_id: str
    framework: str
    approved_by: str
    reason: str
    approved_on: dt.date


@dataclass(frozen=True)
class Verdict:
    claim_reference: str
    family_id: str
    framework: str
    verdict: str
    note: str
    verdict_by: str
    verdict_on: dt.date


# --------------------------------------------------------------------------------------------- helpers


def format_claim_reference(number: int) -> str:
    """The claim reference of claim number ``number`` (the database's autoincrement / sequence value)."""
    return f"{CLAIM_REFERENCE_PREFIX}{number:06d}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            raise InputError(f"{what} is missing")
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date (expected YYYY-MM-DD)") from None


def _required_text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} is required and must not be blank")
    return text


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows from the database as a typed frame: text as ``str``, dates as ``datetime64[ns]``, pence as ``Int64``."""
    df = pd.DataFrame([dict(r) for r in rows], columns=list(columns))
    out = {}
    for col in columns:
        if col in _DATE_COLUMNS:
            out[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
        elif col in _INT_COLUMNS:
            out[col] = df[col].astype("Int64")
        else:
            out[col] = df[col].astype("str")
    return pd.DataFrame(out, columns=list(columns))


def _sqlalchemy_url(target: str) -> sa.URL:
    url = sa.make_url(target)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _is_url(target: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+]*://", target) is not None


# --------------------------------------------------------------------------------------------- the ledger


class Ledger:
    """The claims ledger. Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, engine: Engine, target: str) -> None:
        self.engine = engine
        self.target = target

    # ---- opening

    @classmethod
    def open(cls, target: str | Path, *, create: bool = True) -> Ledger:
        """Open (and create or migrate) the ledger at ``target``.

        ``target`` is a file path (SQLite, created with its folder, WAL journal), a ``sqlite:///`` URL, or a
        ``postgresql://`` URL (psycopg 3). With ``create=False`` a missing SQLite file is an
        :class:`InputError` rather than a new empty ledger.
        """
        text = str(target)
        if _is_url(text):
            url = _sqlalchemy_url(text)
        else:
            url = sa.URL.create("sqlite", database=str(Path(text).expanduser()))
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database in ("", ":memory:"):
                raise InputError("the ledger must be a file, not an in-memory SQLite database")
            path = Path(database)
            if not path.exists():
                if not create:
                    raise InputError(f"no ledger at {path} (it is created by the first claim run)")
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = _sqlite_engine(url)
            label = str(path)
        elif url.get_backend_name() == "postgresql":
            engine = sa.create_engine(url, pool_pre_ping=True)
            label = url.render_as_string(hide_password=True)
        else:
            raise InputError(f"unsupported ledger {text!r}: give a file path or a postgresql:// URL")
        ledger = cls(engine, label)
        try:
            ledger._ensure_schema()
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise InputError(f"cannot open the ledger {label}: {exc.orig or exc}") from exc
        except BaseException:
            engine.dispose()
            raise
        return ledger

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.target!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ---- transactions

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction holding the ledger's write lock; commits on success, rolls back on any error."""
        with self.engine.connect().execution_options(ledger_write=True) as conn:
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def _ensure_schema(self) -> None:
        """Create or check the schema. An up-to-date ledger is only read (no write lock, nothing written)."""
        with self._read() as conn:
            if sa.inspect(conn).has_table("schema_version"):
                version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
                if version == SCHEMA_VERSION:
                    return
        with self._write() as conn:
            metadata.create_all(conn, checkfirst=True)
            version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
            if version is None:
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=_utcnow()))
            elif version > SCHEMA_VERSION:
                raise InputError(
                    f"the ledger {self.target} has schema version {version}, newer than this tfclaims "
                    f"understands ({SCHEMA_VERSION}): upgrade tfclaims"
                )
            # (later: migrations from ``version`` up to SCHEMA_VERSION go here, each recorded in schema_version)

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar_one())

    # ---- reading

    def claims(self, framework: str | None = None) -> pd.DataFrame:
        """Every claim (live and withdrawn), in the order they were issued."""
        query = sa.select(*[claims.c[c] for c in CLAIM_COLUMNS]).order_by(claims.c.claim_number)
        if framework is not None:
            query = query.where(claims.c.framework == framework)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, CLAIM_COLUMNS)

    def active_claims(self, framework: str) -> pd.DataFrame:
        """The framework's claims that are not withdrawn (one per family at most)."""
        query = (
            sa.select(*[claims.c[c] for c in CLAIM_COLUMNS])
            .where(claims.c.framework == framework, claims.c.status != "withdrawn")
            .order_by(claims.c.claim_number)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, CLAIM_COLUMNS)

    def claim(self, claim_reference: str) -> dict[str, Any]:
        """One claim as a dict; :class:`InputError` if the reference is unknown."""
        with self._read() as conn:
            return dict(self._claim_row(conn, claim_reference))

    def held_families(self, framework: str) -> set[str]:
        """Families on audit hold under ``framework`` that no person has released."""
        with self._read() as conn:
            return self._held(conn, framework)

    def holds(self, framework: str | None = None) -> pd.DataFrame:
        """Every audit hold, released or not."""
        query = sa.select(*[holds.c[c] for c in HOLD_COLUMNS]).order_by(holds.c.hold_id)
        if framework is not None:
            query = query.where(holds.c.framework == framework)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, HOLD_COLUMNS)

    def approvals(self, framework: str) -> pd.DataFrame:
        """Discretionary approvals not yet used by a claim."""
        query = (
            sa.select(*[approvals.c[c] for c in APPROVAL_COLUMNS])
            .where(approvals.c.framework == framework, approvals.c.used_by_claim_reference.is_(None))
            .order_by(approvals.c.approval_id)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, APPROVAL_COLUMNS)

    # ---- recording a claim run

    def record_claims(
        self,
        *,
        run_id: str,
        framework: str,
        period_end: dt.date,
        candidates: pd.DataFrame,
        allocation: int | None,
    ) -> RecordResult:
        """Record a claim run's claims, all or nothing, serialised against other runs.

        ``candidates`` has ``family_id``, ``route`` and ``amount_pence`` (other columns are carried into
        ``result.claimed``), already in priority order. Inside one locked transaction: families with a live
        claim become ``already_claimed``; families on audit hold ``audit_hold``; of the rest, those beyond
        ``allocation`` (live claims to date + this run's) ``over_allocation``, in the given order; the others
        are inserted with new claim references, and a ``discretionary`` claim uses its family's approval.
        """
        run_id = _required_text(run_id, "run_id")
        framework = _required_text(framework, "framework")
        period = _as_date(period_end, "period_end")
        if allocation is not None and allocation < 0:
            raise InputError(f"allocation must be 0 or more, got {allocation}")
        wanted = _checked_candidates(candidates)

        with self._write() as conn:
            live = set(
                conn.execute(
                    sa.select(claims.c.family_id).where(
                        claims.c.framework == framework, claims.c.status != "withdrawn"
                    )
                ).scalars()
            )
            held = self._held(conn, framework)
            is_claimed = wanted["family_id"].isin(live)
            is_held = wanted["family_id"].isin(held) & ~is_claimed
            claimable = wanted.loc[~is_claimed & ~is_held]
            over = claimable.iloc[0:0]
            if allocation is not None:
                room = max(0, allocation - len(live))
                over = claimable.iloc[room:]
                claimable = claimable.iloc[:room]

            claimed = claimable.copy()
            numbers = self._next_claim_numbers(conn, len(claimed))
            claimed = claimed.assign(
                claim_reference=pd.Series([format_claim_reference(n) for n in numbers], index=claimed.index, dtype="str")
            )
            claimed_at = _utcnow()
            rows = [
                {
                    "claim_number": number,
                    "claim_reference": format_claim_reference(number),
                    "family_id": family,
                    "framework": framework,
                    "route": route,
                    "period_end": period,
                    "amount_pence": int(amount),
                    "run_id": run_id,
                    "status": "claimed",
                    "claimed_at": claimed_at,
                }
                for number, family, route, amount in zip(
                    numbers, claimed["family_id"], claimed["route"], claimed["amount_pence"], strict=True
                )
            ]
            self._insert_claims(conn, rows)
            used = self._use_approvals(conn, framework, claimed.loc[claimed["route"] == "discretionary"])

        return RecordResult(
            claimed=claimed.reset_index(drop=True),
            already_claimed=wanted.loc[is_claimed, "family_id"].tolist(),
            audit_hold=wanted.loc[is_held, "family_id"].tolist(),
            over_allocation=over["family_id"].tolist(),
            claims_to_date=len(live),
            used_approvals=used,
        )

    def _next_claim_numbers(self, conn: Connection, n: int) -> list[int]:
        """``n`` new claim numbers from the database's sequence (PostgreSQL) or autoincrement (SQLite).

        Called under the write lock. On SQLite ``sqlite_sequence`` holds the largest number ever issued
        (never reused; a rolled-back run's numbers were never issued).
        """
        if n == 0:
            return []
        if self.dialect == "postgresql":
            numbers = conn.execute(
                sa.text("SELECT nextval(pg_get_serial_sequence('claims', 'claim_number')) FROM generate_series(1, :n)"),
                {"n": n},
            ).scalars()
            return sorted(int(x) for x in numbers)
        last = conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'claims'")).scalar()
        start = int(last or 0) + 1
        return list(range(start, start + n))

    def _insert_claims(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(claims.insert(), rows)

    def _use_approvals(self, conn: Connection, framework: str, discretionary: pd.DataFrame) -> list[str]:
        """Mark each discretionary claim's approval as used; a discretionary claim without one is refused."""
        if discretionary.empty:
            return []
        families = discretionary["family_id"].tolist()
        approved = set(
            conn.execute(
                sa.select(approvals.c.family_id).where(
                    approvals.c.framework == framework,
                    approvals.c.used_by_claim_reference.is_(None),
                    approvals.c.family_id.in_(families),
                )
            ).scalars()
        )
        missing = [f for f in families if f not in approved]
        if missing:
            raise InputError(
                f"discretionary claim without a manager's approval for {len(missing)} "
                f"famil{'y' if len(missing) == 1 else 'ies'} under {framework}: {', '.join(missing[:10])}"
            )
        conn.execute(
            approvals.update()
            .where(
                approvals.c.framework == framework,
                approvals.c.family_id == sa.bindparam("b_family"),
                approvals.c.used_by_claim_reference.is_(None),
            )
            .values(used_by_claim_reference=sa.bindparam("b_reference")),
            [
                {"b_family": f, "b_reference": r}
                for f, r in zip(families, discretionary["claim_reference"], strict=True)
            ],
        )
        return families

    # ---- people's decisions

    def withdraw(
        self,
        claim_reference: str,
        reason: str,
        *,
        by: str,
        on: dt.date | None = None,
        hold: bool = True,
    ) -> Withdrawal:
        """Withdraw a live claim; with ``hold`` (the default) the family goes on audit hold."""
        reason = _required_text(reason, "a withdrawal reason")
        by = _required_text(by, "who withdrew the claim (--operator)")
        on = _as_date(on, "withdrawal date") if on is not None else dt.date.today()
        with self._write() as conn:
            row = self._live_claim_row(conn, claim_reference)
            conn.execute(
                claims.update()
                .where(claims.c.claim_reference == row["claim_reference"])
                .values(status="withdrawn", withdrawal_reason=reason, withdrawn_on=on, withdrawn_by=by)
            )
            placed = False
            if hold and row["family_id"] not in self._held(conn, row["framework"]):
                conn.execute(
                    holds.insert().values(
                        family_id=row["family_id"],
                        framework=row["framework"],
                        placed_on=on,
                        claim_reference=row["claim_reference"],
                        reason=reason,
                    )
                )
                placed = True
        return Withdrawal(
            claim_reference=row["claim_reference"],
            family_id=row["family_id"],
            framework=row["framework"],
            reason=reason,
            withdrawn_on=on,
            withdrawn_by=by,
            hold_placed=placed,
        )

    def release(self, family_id: str, framework: str, reason: str, *, by: str, on: dt.date | None = None) -> Release:
        """Release a family from audit hold (a person's decision, with a reason)."""
        reason = _required_text(reason, "a release reason")
        by = _required_text(by, "who released the hold (--operator)")
        on = _as_date(on, "release date") if on is not None else dt.date.today()
        with self._write() as conn:
            hold = self._open_hold(conn, family_id, framework)
            conn.execute(
                holds.update()
                .where(holds.c.hold_id == hold["hold_id"])
                .values(released_on=on, released_by=by, release_reason=reason)
            )
        return Release(
            family_id=family_id,
            framework=framework,
            claim_reference=hold["claim_reference"],
            reason=reason,
            released_on=on,
            released_by=by,
        )

    def approve(self, family_id: str, framework: str, *, by: str, reason: str, on: dt.date | None = None) -> Approval:
        """Record a manager's decision to claim a family under discretion (route ``discretionary``)."""
        family_id = _required_text(family_id, "FAMILY_ID")
        reason = _required_text(reason, "a reason for the discretionary decision")
        by = _required_text(by, "the approving manager (--operator)")
        on = _as_date(on, "approval date") if on is not None else dt.date.today()
        with self._write() as conn:
            self._refuse_approval(conn, family_id, framework)
            conn.execute(
                approvals.insert().values(
                    family_id=family_id, framework=framework, approved_by=by, reason=reason, approved_on=on
                )
            )
        return Approval(family_id=family_id, framework=framework, approved_by=by, reason=reason, approved_on=on)

    def record_verdict(self, claim_reference: str, verdict: str, note: str, *, by: str, on: dt.date) -> Verdict:
        """Record the internal auditor's verdict on a claim (``valid``, ``invalid`` or ``query``)."""
        verdict_code = (verdict or "").strip().lower()
        if verdict_code not in VERDICTS:
            raise InputError(f"verdict {verdict!r} for claim {claim_reference} is not one of {', '.join(VERDICTS)}")
        by = _required_text(by, "who checked the claim")
        on = _as_date(on, f"verdict date of claim {claim_reference}")
        note = (note or "").strip()
        with self._write() as conn:
            row = self._claim_row(conn, claim_reference)
            conn.execute(
                claims.update()
                .where(claims.c.claim_reference == row["claim_reference"])
                .values(verdict=verdict_code, verdict_note=note or None, verdict_by=by, verdict_on=on)
            )
        return Verdict(
            claim_reference=row["claim_reference"],
            family_id=row["family_id"],
            framework=row["framework"],
            verdict=verdict_code,
            note=note,
            verdict_by=by,
            verdict_on=on,
        )

    # ---- what withdraw, release and approve would refuse, checked without writing

    def check_withdraw(self, claim_reference: str) -> None:
        """``InputError`` if :meth:`withdraw` would refuse the claim: unknown, or already withdrawn."""
        with self._read() as conn:
            self._live_claim_row(conn, claim_reference)

    def check_release(self, family_id: str, framework: str) -> None:
        """``InputError`` if :meth:`release` would refuse: the family has no open audit hold under ``framework``."""
        with self._read() as conn:
            self._open_hold(conn, family_id, framework)

    def check_approve(self, family_id: str, framework: str) -> None:
        """``InputError`` if :meth:`approve` would refuse: the family is claimed, or already has an unused approval."""
        with self._read() as conn:
            self._refuse_approval(conn, _required_text(family_id, "FAMILY_ID"), framework)

    # ---- the audit trail's head

    def audit_head(self, audit_path: str) -> tuple[str, int] | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(audit_head.c.head_hash, audit_head.c.record_count).where(
                    audit_head.c.audit_path == audit_path
                )
            ).first()
        return None if row is None else (str(row.head_hash), int(row.record_count))

    def set_audit_head(self, audit_path: str, head_hash: str, count: int) -> None:
        if count < 0:
            raise ValueError(f"audit record count must be 0 or more, got {count}")
        with self._write() as conn:
            updated = conn.execute(
                audit_head.update()
                .where(audit_head.c.audit_path == audit_path)
                .values(head_hash=head_hash, record_count=count, updated_at=_utcnow())
            ).rowcount
            if not updated:
                conn.execute(
                    audit_head.insert().values(
                        audit_path=audit_path, head_hash=head_hash, record_count=count, updated_at=_utcnow()
                    )
                )

    # ---- internals

    def _claim_row(self, conn: Connection, reference: str) -> Mapping[str, Any]:
        ref = (reference or "").strip().upper()
        row = conn.execute(sa.select(claims).where(claims.c.claim_reference == ref)).mappings().first()
        if row is None:
            raise InputError(f"unknown claim reference {reference!r} in the ledger {self.target}")
        return row

    def _live_claim_row(self, conn: Connection, reference: str) -> Mapping[str, Any]:
        row = self._claim_row(conn, reference)
        if row["status"] == "withdrawn":
            raise InputError(
                f"claim {reference} was already withdrawn on {row['withdrawn_on']} ({row['withdrawal_reason']})"
            )
        return row

    def _open_hold(self, conn: Connection, family_id: str, framework: str) -> Mapping[str, Any]:
        """The family's open audit hold under ``framework``; ``InputError`` naming the family when there is none."""
        found = conn.execute(
            sa.select(holds).where(holds.c.family_id == family_id, holds.c.framework == framework).order_by(holds.c.hold_id)
        ).mappings().all()
        open_holds = [h for h in found if h["released_on"] is None]
        if open_holds:
            return open_holds[-1]
        if found:
            last = found[-1]
            why = f"its last hold was released on {last['released_on']} by {last['released_by']}"
        else:
            why = "the ledger has never held it"
        raise InputError(f"family {family_id!r} is not on audit hold under {framework} ({why})")

    @staticmethod
    def _refuse_approval(conn: Connection, family_id: str, framework: str) -> None:
        live = conn.execute(
            sa.select(claims.c.claim_reference).where(
                claims.c.family_id == family_id,
                claims.c.framework == framework,
                claims.c.status != "withdrawn",
            )
        ).scalar()
        if live is not None:
            raise InputError(f"family {family_id!r} is already claimed under {framework} ({live})")
        pending = conn.execute(
            sa.select(approvals.c.approved_by, approvals.c.approved_on).where(
                approvals.c.family_id == family_id,
                approvals.c.framework == framework,
                approvals.c.used_by_claim_reference.is_(None),
            )
        ).first()
        if pending is not None:
            raise InputError(
                f"family {family_id!r} already has an unused approval under {framework} "
                f"(by {pending.approved_by} on {pending.approved_on})"
            )

    @staticmethod
    def _held(conn: Connection, framework: str) -> set[str]:
        return set(
            conn.execute(
                sa.select(holds.c.family_id).where(holds.c.framework == framework, holds.c.released_on.is_(None))
            ).scalars()
        )


class LedgerHeadStore:
    """The audit trail's head (latest record hash and record count) kept in the ledger, per audit log path.

    Implements the audit module's ``HeadStore`` protocol: ``get() -> (hash, count) | None``, ``set(hash, count)``.
    """

    def __init__(self, ledger: Ledger, audit_path: str | Path) -> None:
        self.ledger = ledger
        self.audit_path = str(Path(audit_path).expanduser().resolve())

    def get(self) -> tuple[str, int] | None:
        return self.ledger.audit_head(self.audit_path)

    def set(self, hash: str, count: int) -> None:  # noqa: A002 - the protocol's name
        self.ledger.set_audit_head(self.audit_path, hash, count)


# --------------------------------------------------------------------------------------------- internals


def _set_wal(cursor: Any, wait_s: float = 60.0) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without its busy handler, when
    another process holds a lock while the mode changes (two runs opening a new ledger together):
    retry with a short back-off until the other finishes."""
    import sqlite3
    import time

    deadline = time.monotonic() + wait_s
    delay = 0.01
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _sqlite_engine(url: sa.URL) -> Engine:
    """SQLite with WAL, a generous busy timeout, foreign keys, and transactions we begin ourselves.

    pysqlite's own transaction handling is switched off (``isolation_level = None``) so that a write
    transaction can start with ``BEGIN IMMEDIATE`` (taking the write lock before reading) and a read with
    a plain ``BEGIN``.
    """
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("ledger_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _checked_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """The candidates, checked: ids present and unique, routes known, pence whole numbers."""
    missing = [c for c in ("family_id", "route", "amount_pence") if c not in candidates.columns]
    if missing:
        raise InputError(f"claim candidates lack column(s) {', '.join(missing)}")
    wanted = candidates.reset_index(drop=True).copy()
    if wanted["family_id"].isna().any():
        raise InputError("a claim candidate has no family_id")
    wanted = wanted.assign(family_id=wanted["family_id"].astype("str"))
    duplicated = wanted["family_id"].duplicated(keep="first")
    if duplicated.any():
        dupes = sorted(set(wanted.loc[duplicated, "family_id"]))
        raise InputError(f"a family appears twice among the claim candidates: {', '.join(dupes[:10])}")
    bad_route = ~wanted["route"].isin(ROUTES)
    if bad_route.any():
        raise InputError(
            f"unknown claim route {wanted.loc[bad_route, 'route'].iloc[0]!r} "
            f"(family {wanted.loc[bad_route, 'family_id'].iloc[0]}); expected one of {', '.join(ROUTES)}"
        )
    amount = pd.to_numeric(wanted["amount_pence"], errors="coerce")
    whole = amount.notna() & (amount >= 0) & (amount == amount.round())
    if not whole.all():
        first = wanted.loc[~whole].iloc[0]
        raise InputError(
            f"amount_pence must be a whole number of pence, 0 or more: {first['amount_pence']!r} "
            f"(family {first['family_id']})"
        )
    wanted = wanted.assign(amount_pence=amount.astype("int64"))
    return wanted
