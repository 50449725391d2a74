"""The claims ledger: the durable record of claims, audit holds, discretionary approvals and the audit head.

SQLite by default (a file path, WAL journal: one council on one host), PostgreSQL by a ``postgresql://``
URL (psycopg 3), which many councils share: each council's tables live in a schema of its own
(``council_<GSS code>``), so family ids, claim numbers, the allocation, holds and the audit chain are
per council, and its write lock is its own. The guarantees are the database's, not only this module's:

- **one live claim per family and framework**: a partial unique index on ``claims (family_id, framework)``
  over rows whose status is not ``withdrawn`` -- a raw ``INSERT`` of a second live claim fails;
- **a run is all or nothing**: :meth:`Ledger.record_claims` re-reads the ledger, decides and inserts in one
  transaction; any exception rolls it back;
- **runs are serialised**: every write transaction first takes the ledger's write lock (SQLite
  ``BEGIN IMMEDIATE``; PostgreSQL ``pg_advisory_xact_lock`` keyed by the council), so two runs at once cannot both claim a family,
  and the second sees the first's claims as ``already_claimed``;
- **claim references come from the database**: ``TFC-000001`` is the claim's autoincrement / sequence
  number, allocated inside the locked transaction, so it is unique across concurrent runs and never
  reissued;
- **every row is sealed** (schema version 2): claims, holds and approvals each carry ``seal``, an
  HMAC-SHA-256 of their fields under a key derived from the council's reference key
  (``tfclaims.audit.seal.LEDGER_ROW``); each claim also seals the number of the claim before it
  (``prev_claim_number``), and the ``ledger_seal`` row seals the key's fingerprint and how many rows
  of each table there are, up to which number. :meth:`Ledger.verify_rows` finds and names a changed
  field, a row without a valid seal (inserted by hand) and a deleted row; every write checks the
  rows it changes first, so a hand edit is never re-sealed. A ledger from before seals is sealed once
  by an operator (:meth:`Ledger.seal_rows`, ``tfclaims ledger seal``).

Money is integer pence throughout. ``claimed_at`` is UTC.
"""

from __future__ import annotations

import array
import datetime as dt
import hashlib
import hmac
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tfclaims.audit import seal
from tfclaims.schemas.claim import ROUTES
from tfclaims.schemas.spot_check import VERDICTS
from tfclaims.core.errors import InputError
from tfclaims.core.redact import display_target, mask_urls, name_subjects

SCHEMA_VERSION = 2  # 2: sealed rows (seal, prev_claim_number, ledger_seal)
CLAIM_REFERENCE_PREFIX = "TFC-"

STATUSES = ("claimed", "withdrawn")

# pg_advisory_xact_lock key: the bytes of "tfclaims" as a signed 64-bit integer.
COUNCIL_SCHEMA_PREFIX = "council_"  # a council's schema on a ledger shared by councils: council_e10000002
AUDIT_CHAIN = "the council's audit chain"  # the head of a chain kept in the ledger (audit_head.audit_path)
NO_COUNCIL = ("{target} is a PostgreSQL ledger, which councils share (each council's claims, lock, allocation and audit "
              "chain live in a schema of its own): set council_code in the council config to the council's GSS code "
              "(e.g. council_code: E10000002)")


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
    sa.Column("prev_claim_number", sa.BigInteger),  # the claim before it when it was sealed (0: none)
    sa.Column("seal", sa.String),
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
    sa.Column("seal", sa.String),
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
    sa.Column("seal", sa.String),
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

# The ledger's own seal: which key sealed it, and how many rows of each table it holds, up to which number.
ledger_seal = sa.Table(
    "ledger_seal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key_fingerprint", sa.String, nullable=False),
    sa.Column("claims_count", sa.BigInteger, nullable=False),
    sa.Column("claims_last", sa.BigInteger, nullable=False),
    sa.Column("holds_count", sa.BigInteger, nullable=False),
    sa.Column("holds_last", sa.BigInteger, nullable=False),
    sa.Column("approvals_count", sa.BigInteger, nullable=False),
    sa.Column("approvals_last", sa.BigInteger, nullable=False),
    sa.Column("sealed_at", sa.DateTime, nullable=False),
    sa.Column("seal", sa.String, nullable=False),
    sa.CheckConstraint("id = 1", name="ck_ledger_seal_one_row"),
)

# The fields each row's seal covers, in order (the seal names the first that differs).
SEALED_COLUMNS: dict[str, tuple[str, ...]] = {
    "claims": (
        "claim_number", "claim_reference", "family_id", "framework", "route", "period_end", "amount_pence",
        "run_id", "status", "claimed_at", "withdrawal_reason", "withdrawn_on", "withdrawn_by", "verdict",
        "verdict_note", "verdict_by", "verdict_on", "prev_claim_number",
    ),
    "holds": (
        "hold_id", "family_id", "framework", "placed_on", "claim_reference", "reason", "released_on",
        "released_by", "release_reason",
    ),
    "approvals": ("approval_id", "family_id", "framework", "approved_by", "reason", "approved_on", "used_by_claim_reference"),
}  # fmt: skip
_ID_COLUMN = {"claims": "claim_number", "holds": "hold_id", "approvals": "approval_id"}
_META_COUNTS = ("claims_count", "claims_last", "holds_count", "holds_last", "approvals_count", "approvals_last")
SEAL_VERSION = "s1"

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

    def stage_counts(self) -> str:
        refused = len(self.already_claimed) + len(self.audit_hold) + len(self.over_allocation)
        return f"{len(self.claimed):,} claims recorded, {refused:,} refused"


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


@dataclass
class LedgerCheck:
    """What :meth:`Ledger.verify_rows` found: ``problems`` name each claim (by reference), hold or approval (by number)."""

    target: str
    problems: list[str] = field(default_factory=list)
    claims: int = 0
    holds: int = 0
    approvals: int = 0
    demo_key: bool = False  # sealed with the public demo key: tamper-evident against nobody

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        if self.ok:
            demo = " (sealed with the public DEMO key: anyone can reseal it)" if self.demo_key else ""
            return (f"ledger {self.target} verified: {self.claims} claims, {self.holds} holds, "
                    f"{self.approvals} approvals, every seal sound{demo}")
        shown = "; ".join(self.problems[:10])
        more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        return f"ledger {self.target} FAILS its integrity check: {shown}{more}"


# --------------------------------------------------------------------------------------------- seals


def _field_text(value: Any) -> str:
    """A field in the seals' canonical encoding: length-prefixed text; NULL is ``-``."""
    kind = type(value)
    if kind is str:
        text = value
    elif value is None:
        return "-"
    elif kind is int:
        text = str(value)
    elif isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return f"{len(text)}:{text}"


class _Sealer:
    """Seals rows under the ledger-row key derived from one reference key.

    A row's seal is ``s1.<HMAC-SHA-256 of table + fields>.<a 16-bit checksum per field>``: the MAC is the
    proof; the checksums only name which field differs when it fails (they are not secret).
    """

    def __init__(self, reference_key: str) -> None:
        self.fingerprint = seal.key_fingerprint(reference_key)
        self.demo = self.fingerprint == seal.DEMO_FINGERPRINT
        self._key = seal.derive_key(reference_key, seal.LEDGER_ROW)
        self._base = {t: hmac.new(self._key, t.encode() + b"\x00", hashlib.sha256) for t in (*SEALED_COLUMNS, "ledger_seal")}

    def _mac(self, table: str, parts: list[str]) -> str:
        h = self._base[table].copy()
        h.update("".join(parts).encode("utf-8"))
        return h.hexdigest()

    @staticmethod
    def _tags(parts: list[str]) -> str:
        return array.array("H", [zlib.crc32(p.encode("utf-8")) & 0xFFFF for p in parts]).tobytes().hex()

    def row(self, table: str, row: Mapping[str, Any]) -> str:
        parts = [_field_text(row[c]) for c in SEALED_COLUMNS[table]]
        return f"{SEAL_VERSION}.{self._mac(table, parts)}.{self._tags(parts)}"

    def changed_fields(self, table: str, row: Mapping[str, Any]) -> list[str] | None:
        """None if the row's seal is sound; else the fields whose checksum differs (empty: cannot tell)."""
        parts = [_field_text(row[c]) for c in SEALED_COLUMNS[table]]
        version, stored_mac, stored_tags = (str(row.get("seal")).split(".") + ["", ""])[:3]
        if version == SEAL_VERSION and hmac.compare_digest(stored_mac, self._mac(table, parts)):
            return None
        want = self._tags(parts)
        if len(stored_tags) != len(want):
            return []
        return [c for i, c in enumerate(SEALED_COLUMNS[table]) if stored_tags[4 * i : 4 * i + 4] != want[4 * i : 4 * i + 4]]

    def meta(self, row: Mapping[str, Any]) -> str:
        h = self._base["ledger_seal"].copy()
        h.update("".join(_field_text(row[c]) for c in ("key_fingerprint", *_META_COUNTS)).encode("utf-8"))
        return h.hexdigest()


def _row_name(table: str, row: Mapping[str, Any]) -> str:
    if table == "claims":
        return f"claim {row.get('claim_reference') or format_claim_reference(int(row['claim_number']))}"
    return f"{table[:-1]} {row[_ID_COLUMN[table]]}"


def _seal_problem(sealer: _Sealer, table: str, row: Mapping[str, Any]) -> str | None:
    """Why one row fails its seal, naming it and the field(s) changed; None when it is sound."""
    if row.get("seal") is None:
        return f"{_row_name(table, row)}: has no seal (inserted by hand?)"
    changed = sealer.changed_fields(table, row)
    if changed is None:
        return None
    if changed:
        what = ", ".join(changed)
        return f"{_row_name(table, row)}: {what} do{'es' if len(changed) == 1 else ''} not match its seal (changed by hand?)"
    return f"{_row_name(table, row)}: does not match its seal (changed or inserted by hand?)"


def _workspace_config() -> Any:
    """The council config of the workspace this command runs in (defaults without one)."""
    from tfclaims.core.config import load_config
    from tfclaims.core.workspace import find_workspace

    try:
        ws = find_workspace()
    except InputError:
        ws = None
    return load_config(ws.council_config if ws is not None else None)


def default_ledger_key() -> str:
    """The reference key a ledger is sealed with when none is given: the council's (environment, else the
    workspace's council config), else the public demo key."""
    from tfclaims.audit.trail import resolve_key

    return resolve_key(_workspace_config())[0]


def default_council() -> str | None:
    """The council a shared ledger is opened for when none is given: the workspace's council config's code."""
    return _workspace_config().council_code


def _key_mismatch(target: str, sealed_fp: str, given: _Sealer) -> InputError:
    def named(fp: str) -> str:
        return f"{fp} (the public demo key)" if fp == seal.DEMO_FINGERPRINT else fp

    return InputError(
        f"the ledger {target} is sealed with another reference key (fingerprint {named(sealed_fp)}) than this "
        f"command's ({named(given.fingerprint)}): set TFCLAIMS_REFERENCE_KEY (or reference_key in the council config) "
        "to the key that sealed it"
    )


def _refusal(message: str, *family_ids: str) -> InputError:
    """An ``InputError`` naming families: the audit trail records them as keyed hashes."""
    return name_subjects(InputError(message), family_ids=family_ids)


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


def resolve_target(target: str) -> str:
    """A ledger URL as given; a ledger file as an absolute path, so two ledgers never look alike."""
    return target if _is_url(target) else str(Path(target).expanduser().resolve())


# --------------------------------------------------------------------------------------------- the ledger


class NoLedger(InputError):
    """A ledger file opened with ``create=False`` is not there (nothing has been claimed yet)."""


class Ledger:
    """The claims ledger. Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, engine: Engine, target: str, key: str | None = None, council: str | None = None) -> None:
        self.engine = engine
        self.target = target
        self.council = council  # the council whose schema this is (a PostgreSQL ledger); None for a SQLite file
        self._reference_key = key
        self._sealer_cache: _Sealer | None = None
        self._lock_key = _council_lock_key(council)

    @property
    def _sealer(self) -> _Sealer:
        """The seals of this command's key (given to :meth:`open`, else :func:`default_ledger_key`)."""
        if self._sealer_cache is None:
            self._sealer_cache = _Sealer(self._reference_key or default_ledger_key())
        return self._sealer_cache

    # ---- opening

    @classmethod
    def open(cls, target: str | Path, *, create: bool = True, key: str | None = None, council: str | None = None) -> Ledger:
        """Open (and create or migrate) the ledger at ``target``.

        ``target`` is a file path (SQLite, created with its folder, WAL journal), a ``sqlite:///`` URL, or a
        ``postgresql://`` URL (psycopg 3). With ``create=False`` a missing SQLite file is an
        :class:`InputError` rather than a new empty ledger. ``key``: the reference key that seals what this
        command writes and checks the seals (default :func:`default_ledger_key`); a ledger sealed with
        another key refuses every write.

        ``council``: the council's GSS code. A PostgreSQL ledger is shared by councils and refuses to open
        without one: the council's tables live in its own schema (``council_<code>``, made on first use),
        its writes take its own lock, and it keeps its own audit chain (:meth:`audit_log`). A SQLite
        ledger is one council's file; the code is not needed there.
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
                    raise NoLedger(f"no ledger at {path} (it is created by the first claim run)")
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = _sqlite_engine(url)
            label = str(path)
        elif url.get_backend_name() == "postgresql":
            label = url.render_as_string(hide_password=True)
            council = council or default_council()
            if not council:
                raise InputError(NO_COUNCIL.format(target=display_target(text)))
            engine = _council_engine(url, council_schema(council))
        else:
            raise InputError(f"unsupported ledger {display_target(text)!r}: give a file path or a postgresql:// URL")
        ledger = cls(engine, label, key, council if url.get_backend_name() == "postgresql" else None)
        try:
            ledger._ensure_schema()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:  # unreachable, or this role may not use the schema
            engine.dispose()
            raise InputError(f"cannot open the ledger {label}"
                             f"{f' for council {ledger.council}' if ledger.council else ''}: {mask_urls(str(exc.orig or exc)).strip()}") from exc
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
        return f"Ledger({self.target!r}{f', council={self.council!r}' if self.council else ''})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ---- transactions

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction holding the ledger's write lock; commits on success, rolls back on any error."""
        with self.engine.connect().execution_options(ledger_write=True) as conn:
            with conn.begin():
                if self.dialect == "postgresql":  # the council's own lock: councils never queue behind each other
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def _ensure_schema(self) -> None:
        """Create or check the schema. An up-to-date ledger is only read (no write lock, nothing written)."""
        if self.council is not None:
            self._ensure_council_schema()
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
            elif version < 2:
                _add_seal_columns(conn)
                conn.execute(schema_version.insert().values(version=2, applied_at=_utcnow()))

    def _ensure_council_schema(self) -> None:
        """The council's schema, made under the council's lock if missing (a role that may not make it is told
        who can)."""
        schema = council_schema(self.council or "")
        with self._read() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first():
                if not conn.execute(sa.text("SELECT has_schema_privilege(:s, 'USAGE')"), {"s": schema}).scalar():
                    role = conn.execute(sa.text("SELECT current_user")).scalar()
                    raise InputError(f"cannot open the ledger {self.target} for council {self.council}: permission denied for schema "
                                     f"{schema} to role {role} (each council's role reaches its own schema only: check council_code "
                                     "in the council config, and the ledger URL's role)")
                return
        try:
            with self._write() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except sa.exc.ProgrammingError as exc:
            raise InputError(f"the ledger {self.target} has no schema {schema} for council {self.council}, and this database role "
                             f"may not make it ({mask_urls(str(exc.orig or exc)).splitlines()[0]}): ask the database administrator "
                             f"to make the schema, owned by the council's role (see the deployment guide)") from exc

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar_one())

    # ---- seals

    def verify_rows(self, key: str | None = None) -> LedgerCheck:
        """Check every row's seal, the claims' sequence and the ledger's seal record; name each problem.

        ``key``: the reference key to check with (default: this ledger's, see :meth:`open`). A ledger
        sealed with another key is an :class:`InputError` (its seals cannot be checked with this one).
        """
        with self._read() as conn:
            return self._check(conn, _Sealer(key) if key else self._sealer)

    def check_integrity(self, key: str | None = None) -> LedgerCheck:
        """:meth:`verify_rows`, refusing (``InputError``, exit 2) a ledger that fails it. What a claim run calls first."""
        check = self.verify_rows(key)
        if not check.ok:
            raise InputError(check.message())
        return check

    def seal_rows(self) -> dict[str, int]:
        """Seal a ledger from before seals (schema version 1), once: every row, and the ledger's seal record.

        Refused when the ledger already has a seal record or was created sealed (rows without a seal
        there were inserted or stripped by hand: they are named, not sealed). Returns the rows sealed per table.
        """
        sealer = self._sealer
        with self._write() as conn:
            if conn.execute(sa.select(ledger_seal.c.id)).first() is not None or self._born_sealed(conn):
                check = self._check(conn, sealer)
                found = "; ".join(check.problems[:10]) or "every row is sealed"
                raise InputError(f"the ledger {self.target} is already sealed; not sealing again ({found})")
            rows = self._rows(conn)
            meta = {"id": 1, "key_fingerprint": sealer.fingerprint, "sealed_at": _utcnow()}
            prev = 0
            for name, table in _SEALED_TABLES.items():
                updates = []
                for row in rows[name]:
                    row = dict(row)
                    if name == "claims":
                        row["prev_claim_number"], prev = prev, int(row["claim_number"])
                    updates.append({"b_id": row[_ID_COLUMN[name]], "b_prev": row.get("prev_claim_number"),
                                    "b_seal": sealer.row(name, row)})
                if updates:
                    values: dict[str, Any] = {"seal": sa.bindparam("b_seal")}
                    if name == "claims":
                        values["prev_claim_number"] = sa.bindparam("b_prev")
                    conn.execute(table.update().where(table.c[_ID_COLUMN[name]] == sa.bindparam("b_id")).values(**values), updates)
                meta[f"{name}_count"] = len(rows[name])
                meta[f"{name}_last"] = int(rows[name][-1][_ID_COLUMN[name]]) if rows[name] else 0
            meta["seal"] = sealer.meta(meta)
            conn.execute(ledger_seal.insert().values(**meta))
        return {name: len(r) for name, r in rows.items()}

    def _rows(self, conn: Connection) -> dict[str, Sequence[Mapping[str, Any]]]:
        return {
            name: conn.execute(sa.select(table).order_by(table.c[_ID_COLUMN[name]])).mappings().all()
            for name, table in _SEALED_TABLES.items()
        }

    @staticmethod
    def _born_sealed(conn: Connection) -> bool:
        """Created at schema version 2 or later (never held unsealed rows)."""
        first = conn.execute(sa.select(sa.func.min(schema_version.c.version))).scalar()
        return first is not None and int(first) >= 2

    def _check(self, conn: Connection, sealer: _Sealer) -> LedgerCheck:
        check = LedgerCheck(self.target, demo_key=sealer.demo)
        rows = self._rows(conn)
        check.claims, check.holds, check.approvals = (len(rows[n]) for n in ("claims", "holds", "approvals"))
        meta = conn.execute(sa.select(ledger_seal)).mappings().first()
        problems = check.problems
        if meta is None:
            if not any(rows.values()):
                return check
            if not self._born_sealed(conn) and all(r["seal"] is None for rs in rows.values() for r in rs):
                problems.append(UNSEALED_LEDGER)
                return check
            problems.append("the ledger's seal record (table ledger_seal) is missing (deleted by hand?)")
        elif meta["key_fingerprint"] != sealer.fingerprint:
            raise _key_mismatch(self.target, str(meta["key_fingerprint"]), sealer)
        elif not seal.same(sealer.meta(meta), meta["seal"]):
            problems.append("the ledger's seal record (table ledger_seal) does not match its seal (changed by hand?)")
        sound: dict[str, list[Mapping[str, Any]]] = {}
        for name in _SEALED_TABLES:
            sound[name] = []
            for row in rows[name]:
                problem = _seal_problem(sealer, name, row)
                if problem:
                    problems.append(problem)
                else:
                    sound[name].append(row)
        prev = 0
        for row in sound["claims"]:
            if row["prev_claim_number"] != prev:
                missing = format_claim_reference(int(row["prev_claim_number"] or 0))
                problems.append(f"claim {missing}: missing (deleted by hand?): {row['claim_reference']} was sealed after it")
            prev = int(row["claim_number"])
        if meta is not None:
            problems.extend(_count_problems(meta, rows, prev))
        return check

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
            sound = self._check(conn, self._sealer)  # the live claims and holds read below are trusted only sealed
            if not sound.ok:
                raise InputError(sound.message())
            meta = self._meta_for_write(conn)
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
            prevs = [int(meta["claims_last"]), *numbers][: len(numbers)]
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
                    "withdrawal_reason": None, "withdrawn_on": None, "withdrawn_by": None,
                    "verdict": None, "verdict_note": None, "verdict_by": None, "verdict_on": None,
                    "prev_claim_number": prev,
                }  # fmt: skip
                for number, prev, family, route, amount in zip(
                    numbers, prevs, claimed["family_id"], claimed["route"], claimed["amount_pence"], strict=True
                )
            ]
            seal_row = self._sealer.row
            for row in rows:
                row["seal"] = seal_row("claims", row)
            self._insert_claims(conn, rows)
            used = self._use_approvals(conn, framework, claimed.loc[claimed["route"] == "discretionary"])
            if rows:
                meta["claims_count"] = int(meta["claims_count"]) + len(rows)
                meta["claims_last"] = numbers[-1]
                self._save_meta(conn, meta)

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
        approved = {
            row["family_id"]: row
            for row in conn.execute(
                sa.select(approvals).where(
                    approvals.c.framework == framework,
                    approvals.c.used_by_claim_reference.is_(None),
                    approvals.c.family_id.in_(families),
                )
            ).mappings()
        }
        missing = [f for f in families if f not in approved]
        if missing:
            raise _refusal(
                f"discretionary claim without a manager's approval for {len(missing)} "
                f"famil{'y' if len(missing) == 1 else 'ies'} under {framework}: {', '.join(missing[:10])}",
                *missing,
            )
        for family, reference in zip(families, discretionary["claim_reference"], strict=True):
            self._reseal(conn, "approvals", approved[family], used_by_claim_reference=reference)
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
            meta = self._meta_for_write(conn)
            row = self._live_claim_row(conn, claim_reference)
            self._reseal(conn, "claims", row, status="withdrawn", withdrawal_reason=reason, withdrawn_on=on, withdrawn_by=by)
            placed = False
            if hold and row["family_id"] not in self._held(conn, row["framework"]):
                self._insert_sealed(conn, "holds", meta, {
                    "family_id": row["family_id"], "framework": row["framework"], "placed_on": on,
                    "claim_reference": row["claim_reference"], "reason": reason,
                })  # fmt: skip
                self._save_meta(conn, meta)
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
            self._meta_for_write(conn)
            hold = self._open_hold(conn, family_id, framework)
            self._reseal(conn, "holds", hold, released_on=on, released_by=by, release_reason=reason)
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
            meta = self._meta_for_write(conn)
            self._refuse_approval(conn, family_id, framework)
            self._insert_sealed(conn, "approvals", meta, {
                "family_id": family_id, "framework": framework, "approved_by": by, "reason": reason, "approved_on": on,
            })  # fmt: skip
            self._save_meta(conn, meta)
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
            self._meta_for_write(conn)
            row = self._claim_row(conn, claim_reference)
            self._reseal(conn, "claims", row, verdict=verdict_code, verdict_note=note or None, verdict_by=by, verdict_on=on)
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
            _set_head(conn, audit_path, head_hash, count)

    # ---- the council's audit chain (a ledger shared by councils)

    @property
    def keeps_audit_chain(self) -> bool:
        """True when the council's audit chain lives in this ledger (a PostgreSQL ledger, one schema per
        council: any number of hosts append to it); a SQLite ledger keeps only the head of the file's chain."""
        return self.council is not None

    def audit_log(self) -> LedgerAuditLog:
        return LedgerAuditLog(self)

    # ---- internals

    def _meta_for_write(self, conn: Connection) -> dict[str, Any]:
        """The ledger's seal record, checked (key and seal), for a write to update; made for a new, empty ledger."""
        sealer = self._sealer
        meta = conn.execute(sa.select(ledger_seal)).mappings().first()
        if meta is None:
            check = self._check(conn, sealer)
            if not check.ok:
                raise InputError(check.message())
            fresh: dict[str, Any] = {"id": 1, "key_fingerprint": sealer.fingerprint, "sealed_at": _utcnow(),
                                     **dict.fromkeys(_META_COUNTS, 0)}
            fresh["seal"] = sealer.meta(fresh)
            conn.execute(ledger_seal.insert().values(**fresh))
            return fresh
        if meta["key_fingerprint"] != sealer.fingerprint:
            raise _key_mismatch(self.target, str(meta["key_fingerprint"]), sealer)
        if not seal.same(sealer.meta(meta), meta["seal"]):
            raise InputError(f"ledger {self.target} FAILS its integrity check: the ledger's seal record (table "
                             "ledger_seal) does not match its seal (changed by hand?)")
        return dict(meta)

    def _save_meta(self, conn: Connection, meta: dict[str, Any]) -> None:
        meta["sealed_at"] = _utcnow()
        meta["seal"] = self._sealer.meta(meta)
        conn.execute(ledger_seal.update().where(ledger_seal.c.id == 1).values(
            **{k: v for k, v in meta.items() if k != "id"}))

    def _require_sealed(self, table: str, row: Mapping[str, Any]) -> None:
        """Refuse to change a row whose seal is not sound (a hand edit is never re-sealed)."""
        problem = _seal_problem(self._sealer, table, row)
        if problem:
            raise InputError(f"ledger {self.target} FAILS its integrity check: {problem}")

    def _reseal(self, conn: Connection, table: str, row: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
        """Update a sealed row (checked first) with ``changes`` and its new seal; returns the new row."""
        self._require_sealed(table, row)
        new = {**dict(row), **changes}
        new["seal"] = self._sealer.row(table, new)
        tbl = _SEALED_TABLES[table]
        idc = _ID_COLUMN[table]
        conn.execute(tbl.update().where(tbl.c[idc] == row[idc]).values(**changes, seal=new["seal"]))
        return new

    def _insert_sealed(self, conn: Connection, table: str, meta: dict[str, Any], values: dict[str, Any]) -> int:
        """Insert one hold or approval row, sealed; counts it in ``meta``. Returns its id."""
        tbl = _SEALED_TABLES[table]
        idc = _ID_COLUMN[table]
        new_id = int(conn.execute(tbl.insert().values(**values)).inserted_primary_key[0])
        row = {c: None for c in SEALED_COLUMNS[table]} | values | {idc: new_id}
        conn.execute(tbl.update().where(tbl.c[idc] == new_id).values(seal=self._sealer.row(table, row)))
        meta[f"{table}_count"] = int(meta[f"{table}_count"]) + 1
        meta[f"{table}_last"] = new_id
        return new_id

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
        raise _refusal(f"family {family_id!r} is not on audit hold under {framework} ({why})", family_id)

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
            raise _refusal(f"family {family_id!r} is already claimed under {framework} ({live})", family_id)
        pending = conn.execute(
            sa.select(approvals.c.approved_by, approvals.c.approved_on).where(
                approvals.c.family_id == family_id,
                approvals.c.framework == framework,
                approvals.c.used_by_claim_reference.is_(None),
            )
        ).first()
        if pending is not None:
            raise _refusal(
                f"family {family_id!r} already has an unused approval under {framework} "
                f"(by {pending.approved_by} on {pending.approved_on})",
                family_id,
            )

    @staticmethod
    def _held(conn: Connection, framework: str) -> set[str]:
        return set(
            conn.execute(
                sa.select(holds.c.family_id).where(holds.c.framework == framework, holds.c.released_on.is_(None))
            ).scalars()
        )


UNSEALED_LEDGER = (
    "its rows are not sealed (a ledger from before seals): an operator checks it and runs `tfclaims ledger seal` once"
)
_SEALED_TABLES: dict[str, sa.Table] = {"claims": claims, "holds": holds, "approvals": approvals}


def _count_problems(meta: Mapping[str, Any], rows: Mapping[str, Sequence[Mapping[str, Any]]], last_claim: int) -> list[str]:
    """Rows the ledger's seal record counts that are not there (deleted from the end, or anywhere for holds/approvals)."""
    problems = []
    if int(meta["claims_last"]) > last_claim:
        problems.append(f"claim {format_claim_reference(int(meta['claims_last']))}: missing (deleted by hand?): "
                        "the ledger's seal records claims up to it")
    for name in _SEALED_TABLES:
        present = len(rows[name])
        counted = int(meta[f"{name}_count"])
        if present != counted:
            problems.append(f"the ledger's seal counts {counted} {name}, {present} are present (rows deleted or inserted by hand?)")
        elif name != "claims" and rows[name] and int(rows[name][-1][_ID_COLUMN[name]]) != int(meta[f"{name}_last"]):
            problems.append(f"{name[:-1]} {meta[f'{name}_last']}: missing (deleted by hand?)")
    return problems


def _add_seal_columns(conn: Connection) -> None:
    """Schema version 1 -> 2: the seal columns (rows stay unsealed until :meth:`Ledger.seal_rows`)."""
    for table in ("claims", "holds", "approvals"):
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN seal VARCHAR"))
    conn.execute(sa.text("ALTER TABLE claims ADD COLUMN prev_claim_number BIGINT"))


class LedgerHeadStore:
    """The audit trail's head (latest record hash and record count) kept in the ledger, per audit log path.

    Implements the audit module's ``HeadStore`` protocol: ``get() -> (hash, count) | None``, ``set(hash, count)``.
    """

    def __init__(self, ledger: Ledger, audit_path: str | Path, *, chain: bool = False) -> None:
        self.ledger = ledger
        self.audit_path = AUDIT_CHAIN if chain else str(Path(audit_path).expanduser().resolve())

    def get(self) -> tuple[str, int] | None:
        return self.ledger.audit_head(self.audit_path)

    def set(self, hash: str, count: int, key: str | None = None) -> None:  # noqa: A002 - the protocol's name
        self.ledger.set_audit_head(self.audit_path, hash, count)


_audit_metadata = sa.MetaData()
audit_records = sa.Table(
    "audit_records",
    _audit_metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("line", sa.Text, nullable=False),  # the record's canonical JSON, as a line of the exported file
    sa.Column("appended_at", sa.DateTime, nullable=False),
)


class LedgerAuditLog:
    """A council's audit chain in its own schema of a shared ledger (``audit_records``: one row per record,
    its canonical JSON as the line an export writes). An append is one transaction under the council's
    lock: read the last record and the head, add the next record, move the head. Any number of hosts may
    append; :meth:`export` writes the chain as the JSON-lines file every audit tool reads."""

    def __init__(self, ledger: Ledger) -> None:
        if not ledger.keeps_audit_chain:
            raise ValueError("only a council's schema of a shared ledger keeps the audit chain")
        self.ledger = ledger
        self._made = False

    @property
    def name(self) -> str:
        return f"{self.ledger.target} (council {self.ledger.council})"

    def _table(self) -> sa.Table:
        if not self._made:
            with self.ledger._write() as conn:  # under the council's lock: two first appends never race to make it
                _audit_metadata.create_all(conn, checkfirst=True)
            self._made = True
        return audit_records

    def append(self, record: Mapping[str, Any], key: str) -> dict[str, Any]:
        from tfclaims.audit.trail import canonical_json, chain_record

        table = self._table()
        with self.ledger._write() as conn:
            last = conn.execute(sa.select(table.c.line).order_by(table.c.seq.desc()).limit(1)).scalar()
            head = conn.execute(sa.select(audit_head.c.head_hash, audit_head.c.record_count)
                                .where(audit_head.c.audit_path == AUDIT_CHAIN)).first()
            rec = chain_record(record, None if last is None else last.encode("utf-8"),
                               None if head is None else (str(head.head_hash), int(head.record_count)), key)
            conn.execute(table.insert().values(seq=rec["seq"], run_id=rec.get("run_id"), hash=rec["hash"],
                                               line=canonical_json(rec).decode("utf-8"), appended_at=_utcnow()))
            _set_head(conn, AUDIT_CHAIN, rec["hash"], rec["seq"])
        return rec

    def lines(self) -> list[str]:
        with self.ledger._read() as conn:
            if not sa.inspect(conn).has_table("audit_records"):
                return []
            return list(conn.execute(sa.select(audit_records.c.line).order_by(audit_records.c.seq)).scalars())

    def records(self) -> Iterator[dict[str, Any]]:
        import json

        for line in self.lines():
            yield json.loads(line)

    def head(self) -> tuple[str, int] | None:
        return self.ledger.audit_head(AUDIT_CHAIN)

    def head_store(self) -> LedgerHeadStore:
        """The chain's head as the audit module's ``HeadStore`` (for ``verify`` of an export)."""
        return LedgerHeadStore(self.ledger, AUDIT_CHAIN, chain=True)

    def export(self, path: Path) -> int:
        """Write the chain to ``path`` (JSON lines, atomically); returns the number of records."""
        from tfclaims.core.write import atomic_write

        lines = self.lines()
        with atomic_write(path) as fh:
            fh.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
        return len(lines)


def council_schema(council: str) -> str:
    """The schema of a council on a shared ledger, from its GSS code (checked: it is put into SQL)."""
    from tfclaims.core.config import GSS_CODE_PATTERN

    if not re.match(GSS_CODE_PATTERN, council or ""):
        raise InputError(f"council code {council!r}: give the council's GSS code (a letter E, W, S or N and eight digits, e.g. E10000002)")
    return COUNCIL_SCHEMA_PREFIX + council.lower()


def _council_lock_key(council: str | None) -> int:
    """The council's advisory-lock key (a signed 64-bit number): councils never wait for each other."""
    digest = hashlib.sha256(b"tfclaims ledger lock " + (council or "").encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _council_engine(url: sa.URL, schema: str) -> Engine:
    """A PostgreSQL engine whose every connection works in the council's schema alone (``search_path``),
    with a small pool: many councils' runs share the server's connections."""
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)

    @sa.event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET SESSION search_path TO "{schema}"')
        dbapi_connection.autocommit = autocommit

    return engine


def _set_head(conn: Connection, name: str, head_hash: str, count: int) -> None:
    updated = conn.execute(audit_head.update().where(audit_head.c.audit_path == name)
                           .values(head_hash=head_hash, record_count=count, updated_at=_utcnow())).rowcount
    if not updated:
        conn.execute(audit_head.insert().values(audit_path=name, head_hash=head_hash, record_count=count, updated_at=_utcnow()))


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
        raise _refusal(f"a family appears twice among the claim candidates: {', '.join(dupes[:10])}", *dupes)
    bad_route = ~wanted["route"].isin(ROUTES)
    if bad_route.any():
        raise _refusal(
            f"unknown claim route {wanted.loc[bad_route, 'route'].iloc[0]!r} "
            f"(family {wanted.loc[bad_route, 'family_id'].iloc[0]}); expected one of {', '.join(ROUTES)}",
            wanted.loc[bad_route, "family_id"].iloc[0],
        )
    amount = pd.to_numeric(wanted["amount_pence"], errors="coerce")
    whole = amount.notna() & (amount >= 0) & (amount == amount.round())
    if not whole.all():
        first = wanted.loc[~whole].iloc[0]
        raise _refusal(
            f"amount_pence must be a whole number of pence, 0 or more: {first['amount_pence']!r} "
            f"(family {first['family_id']})",
            first["family_id"],
        )
    wanted = wanted.assign(amount_pence=amount.astype("int64"))
    return wanted
