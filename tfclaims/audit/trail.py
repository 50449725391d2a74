"""The audit trail: one hash-chained record per run, in a JSON-lines file anyone can read.

Every command appends exactly one record (``run_record``): who ran what, when, on which host and
version, under which purposes of the register (``tfclaims.audit.purposes``), which inputs (SHA-256, rows),
framework and plan (hashes), which outputs (SHA-256, purpose, recipient), which families and people
it touched (keyed hashes: HMAC-SHA-256 with the council key, never names or ids), and how it ended.

The chain: a record holds ``seq`` (its position, 1-based), ``prev_hash`` (the previous record's
``hash``; the first record holds ``GENESIS_HASH``) and its own ``hash``: since ``hash_version`` 2 a
keyed seal, HMAC-SHA-256 of its canonical JSON without ``hash`` (sorted keys, no spaces, UTF-8) under
a key derived from the reference key that hashed its ids (``key_fingerprint`` names it; ``demo_key``
says when it is the public demo key); records without ``hash_version`` (version 1, written before)
hold plain SHA-256. Each line of ``audit.jsonl`` is the canonical JSON of one record. The latest hash
and record count are also kept apart from the log, in a ``HeadStore`` (``FileHeadStore``:
``audit.head.json``, itself sealed; the claims ledger), so cutting records off the end is caught too.
``verify`` recomputes all of it with the keys it is given and names the first bad record.

Appends take a file lock (``audit.jsonl.lock``) around read-head / append / update-head, and write
each record with one ``write`` + fsync. ``prune`` removes records older than a date under the same
lock: it appends a ``prune`` record to the chain and puts a ``checkpoint`` line first, carrying the
count and last hash of what was removed, so the rest still verifies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
from bisect import bisect_left
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

import tfclaims
from tfclaims.audit import seal
from tfclaims.audit.seal import DEMO_FINGERPRINT, key_fingerprint
from tfclaims.core.config import DEMO_REFERENCE_KEY, CouncilConfig
from tfclaims.core.errors import InputError
from tfclaims.core.operator import operator_name
from tfclaims.core.redact import display_target, mask_urls, subjects_of
from tfclaims.audit.purposes import Register, check_recipient, load_register, output_route, purpose_for_command
from tfclaims.core.write import atomic_write, sha256_file, write_json

GENESIS_HASH = "0" * 64
HASH_VERSION = 2  # 1: plain SHA-256 (records written before keyed seals); 2: HMAC-SHA-256, keyed
AUDIT_FILE_NAME = "audit.jsonl"
HEAD_SUFFIX = ".head.json"
SUBJECT_HASH_HEX = 16  # keyed hashes of ids are truncated to 64 bits, like family references
LOCK_TIMEOUT_SECONDS = 120.0
ERROR_MESSAGE_MAX = 1000
# Parameters are recorded as given; these names would put personal data in the log. Use
# ``RunRecord.touched`` for the families and people a command works on.
PERSONAL_PARAM_NAMES = frozenset(
    {
        "person_id", "family_id", "first_name", "last_name", "name", "date_of_birth",
        "nhs_number", "ni_number", "upn", "la_child_id", "postcode", "address_line_1",
    }
)  # fmt: skip
_ID_TOKEN = re.compile(r"(?<![\w\-])[A-Za-z0-9][\w\-]*")  # what might be an id inside an error message
_DUCKDB_FROM = 50_000  # hash this many ids or more inside DuckDB (vectorised, multi-threaded)


# --------------------------------------------------------------------------------------------
# canonical JSON, hashes, keys


def _json_default(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"not JSON serialisable in an audit record: {type(v).__name__}")


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: the bytes that are hashed and written.

    A run's record lists a million keyed hashes or more (``HexDigests``); each such list is written
    by one join instead of item by item (0.48 s -> 0.22 s for a 1M-person record, done for the
    seal and for the line of each record). The bytes are exactly ``json.dumps``'s: a hex digest
    needs no escaping, and a list whose items are not all hex is written by ``json.dumps`` itself."""
    lists: list[HexDigests] = []
    text = _dumps(_with_stand_ins(obj, lists))
    for i, digests in enumerate(lists):
        stand_in = json.dumps(_STAND_IN.format(i))
        if text.count(stand_in) != 1:  # the stand-in's text occurs in the record's own data: no shortcut
            return _dumps(obj).encode("utf-8")
        text = text.replace(stand_in, _digest_array(digests))
    return text.encode("utf-8")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)


class HexDigests(list):  # type: ignore[type-arg]
    """A list of lowercase hex digests (the keyed hashes a run touched), which ``canonical_json``
    writes in one join. It is a plain list to everything else, and reads back as one."""


_STAND_IN = "\x00tfclaims-hex-digests-{}\x00"  # JSON writes the NULs as \u0000: no digest list looks like it


def _with_stand_ins(obj: Any, lists: list[HexDigests]) -> Any:
    """``obj`` with each ``HexDigests`` inside its dicts and lists replaced by a stand-in string."""
    if isinstance(obj, HexDigests):
        lists.append(obj)
        return _STAND_IN.format(len(lists) - 1)
    if isinstance(obj, dict):
        return {k: _with_stand_ins(v, lists) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_with_stand_ins(v, lists) for v in obj]
    return obj


def _digest_array(digests: HexDigests) -> str:
    """The JSON array of ``digests``, as ``json.dumps`` writes it."""
    if not digests:
        return "[]"
    try:
        joined = '","'.join(digests)
        # every item hex (or empty): with the hex digits taken out, only the separators are left
        plain = joined.encode("ascii").translate(None, delete=b"0123456789abcdef") == b'","' * (len(digests) - 1)
    except (TypeError, UnicodeEncodeError):  # an item that is not text, or not ASCII
        plain = False
    return f'["{joined}"]' if plain else _dumps(list(digests))


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON without its own ``hash`` (version 1 records, checkpoints)."""
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def record_seal(record: Mapping[str, Any], key: str) -> str:
    """The keyed ``hash`` of a version 2 record: HMAC-SHA-256 of its canonical JSON without ``hash``."""
    body = canonical_json({k: v for k, v in record.items() if k != "hash"})
    return seal.mac(seal.derive_key(key, seal.AUDIT_CHAIN), body)


def _head_seal(log_name: str, hash: str, count: int, key: str) -> str:
    body = canonical_json({"log": log_name, "hash": hash, "count": count})
    return seal.mac(seal.derive_key(key, seal.AUDIT_HEAD), body)


def verification_keys(config: CouncilConfig | None = None, keys: Sequence[str] | None = None) -> dict[str, str]:
    """fingerprint -> key: the keys given (else the council's, from the environment or ``config``) and the demo key."""
    given = list(keys) if keys is not None else [k for k in [(config or CouncilConfig()).resolved_reference_key()] if k]
    return {key_fingerprint(k): k for k in [*given, DEMO_REFERENCE_KEY]}


def _hmac_pads(key: str) -> tuple[bytes, bytes]:
    k = key.encode("utf-8")
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def _domain(kind: str) -> bytes:
    if kind not in ("person", "family"):
        raise ValueError(f"kind must be 'person' or 'family', not {kind!r}")
    return f"tfclaims-audit/{kind}\x00".encode()


def keyed_hash(identifier: str, key: str, kind: str) -> str:
    """HMAC-SHA-256(key, "tfclaims-audit/<kind>\\0" + id), 16 hex: how a person or family is named in the log."""
    msg = _domain(kind) + str(identifier).strip(" ").encode("utf-8")
    return hmac.digest(key.encode("utf-8"), msg, "sha256").hex()[:SUBJECT_HASH_HEX]


def keyed_hashes(ids: Iterable[Any] | pd.Series, key: str, kind: str) -> list[str]:
    """Keyed hashes of many ids (missing values dropped), sorted and unique.

    Big inputs are hashed inside DuckDB (HMAC = SHA-256(opad || SHA-256(ipad || message))), so a
    million ids take well under a second; small ones with hashlib.
    """
    s = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
    if s.empty:
        return []
    ipad, opad = _hmac_pads(key)
    prefix = _domain(kind)
    text = s.astype("str")  # pandas 3 str dtype: Arrow-backed, missing values stay missing
    if len(s) >= _DUCKDB_FROM:
        return _keyed_hashes_duckdb(text, ipad + prefix, opad)
    uniq = pd.unique(text.dropna().str.strip(" "))
    inner = hashlib.sha256(ipad + prefix)
    outer = hashlib.sha256(opad)
    out = set()
    for ident in uniq:
        if not ident:
            continue
        i = inner.copy()
        i.update(ident.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        out.add(o.hexdigest()[:SUBJECT_HASH_HEX])
    return sorted(out)


def _keyed_hashes_duckdb(text: pd.Series, inner_prefix: bytes, opad: bytes) -> list[str]:
    import pyarrow as pa

    from tfclaims.core import duck

    ids = pa.table({"id": pa.array(text)})  # noqa: F841 - read by DuckDB by name
    with duck.connect() as con:
        rows = con.execute(
            f"SELECT DISTINCT left(sha256($2::BLOB || unhex(sha256($1::BLOB || encode(trim(id))))), {SUBJECT_HASH_HEX}) "
            "AS h FROM ids WHERE id IS NOT NULL AND trim(id) <> '' ORDER BY h",
            [inner_prefix, opad],
        ).fetchnumpy()["h"]
    return rows.tolist()


_HASHER: ThreadPoolExecutor | None = None


def _hasher() -> ThreadPoolExecutor:
    """One thread per process for keyed hashes computed beside a run (a forked child makes its own:
    the parent's thread is not in it)."""
    global _HASHER
    if _HASHER is None:
        _HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfclaims-keyed-hashes")
    return _HASHER


def _forget_hasher() -> None:
    global _HASHER
    _HASHER = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_hasher)


def resolve_key(config: CouncilConfig | None = None, key: str | None = None) -> tuple[str, bool]:
    """(key, is_demo): the given key, else the council's (environment or config), else the demo key."""
    if key:
        return key, key == DEMO_REFERENCE_KEY
    council = (config or CouncilConfig()).resolved_reference_key()
    if council:
        return council, council == DEMO_REFERENCE_KEY
    return DEMO_REFERENCE_KEY, True


# --------------------------------------------------------------------------------------------
# where the log lives, the head store


def default_audit_path(ledger: Path | str | None = None) -> Path:
    """``audit.jsonl`` beside the ledger file; the workspace's audit trail without one (or for a database URL)."""
    if ledger is not None and "://" not in str(ledger):
        return Path(ledger).resolve().parent / AUDIT_FILE_NAME
    from tfclaims.core.workspace import require_workspace

    return require_workspace().audit


class HeadStore(Protocol):
    """Where the latest hash and record count of the chain are kept, apart from the log.

    ``set`` is given the reference key that sealed the record (a store may seal the head with it).
    """

    def get(self) -> tuple[str, int] | None: ...

    def set(self, hash: str, count: int, key: str | None = None) -> None: ...


class FileHeadStore:
    """The head in a small JSON file beside the log (``audit.head.json``), written atomically and sealed:
    ``seal`` is HMAC-SHA-256 of (log name, hash, count) under a key derived from the record's key
    (``key_fingerprint``), so a head rewritten without the key is caught."""

    def __init__(self, audit_path: Path | str):
        audit_path = Path(audit_path)
        self.audit_path = audit_path
        self.path = audit_path.with_name(audit_path.stem + HEAD_SUFFIX)

    def _raw(self) -> dict[str, Any] | None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.path}: the audit head store cannot be read: {exc}") from exc
        if not isinstance(raw, dict):
            raise InputError(f"{self.path}: the audit head store is malformed: not a JSON object")
        return raw

    def get(self) -> tuple[str, int] | None:
        raw = self._raw()
        if raw is None:
            return None
        try:
            return str(raw["hash"]), int(raw["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{self.path}: the audit head store is malformed: {exc}") from exc

    def set(self, hash: str, count: int, key: str | None = None) -> None:
        key = key or resolve_key()[0]
        write_json(
            {
                "log": self.audit_path.name, "hash": hash, "count": count, "updated": _utc_now(),
                "hash_version": HASH_VERSION, "key_fingerprint": key_fingerprint(key),
                "seal": _head_seal(self.audit_path.name, hash, count, key),
            },
            self.path,
        )  # fmt: skip

    def seal_problem(self, keys: Mapping[str, str], record_fingerprint: str | None) -> str | None:
        """Why the head file's seal is not sound, or None. ``record_fingerprint``: the key of the record it
        names (None: a version 1 record, whose head was never sealed). A key not in ``keys`` is not checked."""
        raw = self._raw()
        if raw is None:
            return None
        if "seal" not in raw:
            if record_fingerprint is None:
                return None
            return f"the head file {self.path.name} is not sealed (written by hand or by a tool without the key)"
        fp = raw.get("key_fingerprint")
        if record_fingerprint is not None and fp != record_fingerprint:
            return f"the head file {self.path.name} is sealed with another key than the record it names (rewritten?)"
        key = keys.get(str(fp))
        if key is None:
            return None
        expected = _head_seal(self.audit_path.name, str(raw.get("hash")), int(raw.get("count", -1)), key)
        if not seal.same(expected, raw.get("seal")):
            return f"the head file {self.path.name} does not match its seal (rewritten by hand?)"
        return None


class MultiHeadStore:
    """Keeps the head in several stores at once (the file beside the log and the claims ledger).

    ``set`` writes every store; ``get`` returns the head with the highest count (so cutting the log
    and one store back is still caught by the other). ``verify`` each store on its own to see which
    one disagrees.
    """

    def __init__(self, *stores: HeadStore):
        if not stores:
            raise ValueError("MultiHeadStore needs at least one store")
        self.stores = stores

    def get(self) -> tuple[str, int] | None:
        heads = [h for h in (s.get() for s in self.stores) if h is not None]
        return max(heads, key=lambda h: h[1]) if heads else None

    def set(self, hash: str, count: int, key: str | None = None) -> None:
        for s in self.stores:
            s.set(hash, count, key)

    def seal_problem(self, keys: Mapping[str, str], record_fingerprint: str | None) -> str | None:
        for s in self.stores:
            check = getattr(s, "seal_problem", None)
            problem = check(keys, record_fingerprint) if check is not None else None
            if problem:
                return problem
        return None


def _head_store(audit_path: Path, head_store: HeadStore | None) -> HeadStore:
    return head_store if head_store is not None else FileHeadStore(audit_path)


def _lock(audit_path: Path) -> FileLock:
    return FileLock(str(audit_path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS)


@contextlib.contextmanager
def _locked(audit_path: Path) -> Iterator[None]:
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _lock(audit_path):
            yield
    except Timeout as exc:
        raise InputError(f"{audit_path}: the audit log is locked by another run (waited {LOCK_TIMEOUT_SECONDS:.0f} s)") from exc


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """``20250331T142501Z-3fa2c1``: sortable by time, unique."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------------------------
# appending


def _read_tail(path: Path) -> tuple[bytes | None, bytes]:
    """(last complete line without its newline or None, bytes after the last newline)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None, b""
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None, b""
        buf = b""
        pos = size
        block = 1 << 16
        while True:
            start = max(0, pos - block)
            fh.seek(start)
            buf = fh.read(pos - start) + buf
            pos = start
            block *= 2
            nl = buf.rfind(b"\n")
            if nl == -1:
                if pos == 0:
                    return None, buf
                continue
            before = buf.rfind(b"\n", 0, nl)
            if before == -1 and pos > 0:
                continue
            return buf[before + 1 : nl], buf[nl + 1 :]


def _chain_state(rec: Mapping[str, Any]) -> tuple[str, int]:
    """(hash, count) after a line: a record's own, or what a checkpoint carries."""
    if rec.get("record_type") == "checkpoint":
        return str(rec["last_pruned_hash"]), int(rec["pruned_count"])
    return str(rec["hash"]), int(rec["seq"])


def _write_line(path: Path, data: bytes) -> None:
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _append_unlocked(path: Path, record: dict[str, Any], heads: HeadStore, key: str) -> dict[str, Any]:
    head = heads.get()
    line, fragment = _read_tail(path)
    repairs: list[dict[str, Any]] = []
    if fragment:
        # A half-written last line: a crash during an earlier append (its record never reached the
        # head). Cut it off so the log stays one record per line, and say so in this record.
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.truncate(size - len(fragment))
            fh.flush()
            os.fsync(fh.fileno())
        repairs.append(
            {
                "removed_half_written_line_bytes": len(fragment),
                "removed_half_written_line_sha256": hashlib.sha256(fragment).hexdigest(),
            }
        )
    record = chain_record(record, line, head, key, repairs)
    _write_line(path, canonical_json(record) + b"\n")
    heads.set(record["hash"], record["seq"], key)
    return record


def chain_record(record: Mapping[str, Any], last_line: bytes | None, head: tuple[str, int] | None, key: str,
                 repairs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The record as the next link of a chain whose last line is ``last_line`` (None: an empty chain)
    and whose head store says ``head``: ``seq``, ``prev_hash``, what disagrees (``chain_warnings``),
    what was mended (``repairs``), the seal fields and ``hash``. Pure: the caller stores it and moves
    the head, under the chain's lock."""
    warnings: list[str] = []
    repairs = [dict(r) for r in repairs]
    last_rec: dict[str, Any] | None = None
    if last_line is None:
        last = (GENESIS_HASH, 0)
    else:
        try:
            last_rec = json.loads(last_line)
            last = _chain_state(last_rec)
        except (ValueError, KeyError, TypeError):
            last = head or (hashlib.sha256(last_line).hexdigest(), 0)
            warnings.append("the last line of the log could not be read")
    if head is None:
        if last[1] > 0:
            warnings.append(f"the head store was missing while the log held {last[1]} records")
    elif head != last:
        interrupted = (
            last_rec is not None
            and last[1] == head[1] + 1
            and last_rec.get("prev_hash") == head[0]
        )
        if interrupted:
            repairs.append({"head_was_one_record_behind": True})
        else:
            warnings.append(
                f"the head store said {head[1]} records ending in {head[0][:16]}, "
                f"the log held {last[1]} ending in {last[0][:16]}"
            )
    record = dict(record)
    record.pop("hash", None)
    record["seq"] = last[1] + 1
    record["prev_hash"] = last[0]
    if warnings:
        record["chain_warnings"] = warnings
    if repairs:
        record["repairs"] = repairs
    _seal_record(record, key)
    return record


def _seal_record(record: dict[str, Any], key: str) -> None:
    """Name the sealing key in the record and set its keyed ``hash`` (``hash_version`` 2)."""
    record["hash_version"] = HASH_VERSION
    record["key_fingerprint"] = key_fingerprint(key)
    record["demo_key"] = key == DEMO_REFERENCE_KEY
    record["hash"] = record_seal(record, key)


def append_record(
    audit_path: Path | str, record: Mapping[str, Any], head_store: HeadStore | None = None, key: str | None = None
) -> dict[str, Any]:
    """Append one record (``seq``, ``prev_hash``, the seal fields and ``hash`` are filled in) and move the head.

    ``key``: the reference key that seals it (default: the council's from the environment, else the demo key).
    Returns the record as written.
    """
    path = Path(audit_path)
    with _locked(path):
        return _append_unlocked(path, dict(record), _head_store(path, head_store), key or resolve_key()[0])


class AuditLog(Protocol):
    """Where a council's chain of records is kept: a JSON-lines file (``FileLog``), or the council's own
    schema of a ledger shared by councils (``tfclaims.claim.ledger``), whose export is the same file."""

    @property
    def name(self) -> str: ...

    def append(self, record: Mapping[str, Any], key: str) -> dict[str, Any]: ...

    def records(self) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class FileLog:
    """The chain in a JSON-lines file, its head beside it (and in the ledger, with one)."""

    path: Path
    heads: HeadStore | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def append(self, record: Mapping[str, Any], key: str) -> dict[str, Any]:
        return append_record(self.path, record, self.heads, key=key)

    def records(self) -> Iterator[dict[str, Any]]:
        return iter_records(self.path)


# --------------------------------------------------------------------------------------------
# reading and verifying


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without newline, ended with a newline) for every line of the log."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            ended = raw.endswith(b"\n")
            yield n, raw.rstrip(b"\n"), ended


def iter_records(audit_path: Path | str, *, include_checkpoint: bool = False) -> Iterator[dict[str, Any]]:
    """Every record of the log, in order (unreadable lines are skipped: ``verify`` reports them)."""
    path = Path(audit_path)
    if not path.exists():
        return
    for _, raw, _ in _iter_lines(path):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if rec.get("record_type") == "checkpoint" and not include_checkpoint:
            continue
        yield rec


def read_records(audit_path: Path | str, *, include_checkpoint: bool = False) -> list[dict[str, Any]]:
    return list(iter_records(audit_path, include_checkpoint=include_checkpoint))


@dataclass
class VerifyResult:
    """What ``verify`` found. ``ok``: the structure is sound and every seal that could be checked matches;
    ``sealed_ok``: ok, and no seal was left unchecked (every record's key was given)."""

    ok: bool
    records: int = 0  # records in the chain, counting pruned ones (what the head counts)
    lines: int = 0
    last_hash: str = GENESIS_HASH
    head: tuple[str, int] | None = None
    pruned: int = 0
    first_bad_line: int | None = None
    first_bad_seq: int | None = None
    first_bad_run_id: str | None = None
    problem: str | None = None
    warnings: list[str] = field(default_factory=list)
    missing: bool = False  # the log file does not exist (an empty file is an empty chain)
    council_sealed: int = 0  # records whose keyed seal was checked with a council key
    demo_sealed: list[str] = field(default_factory=list)  # run ids of records sealed with the public demo key
    plain: int = 0  # version 1 records (plain SHA-256, before keyed seals)
    unchecked: list[str] = field(default_factory=list)  # run ids of records sealed with a key not given
    unchecked_fingerprints: list[str] = field(default_factory=list)

    @property
    def sealed_ok(self) -> bool:
        return self.ok and not self.unchecked

    def seals(self) -> str:
        """How the records were sealed, in words."""
        parts = []
        if self.council_sealed:
            parts.append(f"{self.council_sealed} sealed with the council key")
        if self.demo_sealed:
            parts.append(f"{len(self.demo_sealed)} with the public demo key (anyone can recompute those)")
        if self.plain:
            parts.append(f"{self.plain} plain SHA-256 from before keyed seals (anyone can recompute those)")
        if self.unchecked:
            parts.append(f"{len(self.unchecked)} NOT checked (sealed with a key not given: {', '.join(self.unchecked_fingerprints)})")
        return "; ".join(parts)

    def message(self) -> str:
        if self.missing:
            return f"audit trail MISSING: {self.problem}"
        if self.ok:
            kept = self.records - self.pruned
            text = f"audit trail verified: {kept} records" if not self.unchecked else (
                f"audit trail structure verified: {kept} records")
            if self.pruned:
                text += f" ({self.pruned} earlier records pruned; chain continues from the checkpoint)"
            seals = self.seals()
            return text + (f" ({seals})" if seals else "") + (f"; head {self.last_hash[:16]}" if self.records else "")
        where = f"line {self.first_bad_line}" if self.first_bad_line else "end of log"
        run = f", run {self.first_bad_run_id}" if self.first_bad_run_id else ""
        seq = f", record {self.first_bad_seq}" if self.first_bad_seq else ""
        return f"audit trail BROKEN at {where}{seq}{run}: {self.problem}"


_RUN_ID_RE = re.compile(rb'"run_id":"([^"]{1,80})"')


def _guess_run_id(raw: bytes) -> str | None:
    m = _RUN_ID_RE.search(raw)
    return m.group(1).decode("utf-8", "replace") if m else None


def verify(
    audit_path: Path | str,
    head_store: HeadStore | None = None,
    *,
    lock: bool = True,
    keys: Sequence[str] | None = None,
    config: CouncilConfig | None = None,
) -> VerifyResult:
    """Recompute the chain and its seals; name the first record that was changed, removed, reordered or cut off.

    ``keys``: the reference keys to check seals with (default: the council's from the environment or
    ``config``); the demo key is always tried. A record sealed with a key not given is counted in
    ``unchecked`` (its structure is still checked): see ``VerifyResult.sealed_ok``.

    A log file that does not exist is not ok (``missing``), with or without a head; an empty file
    with no head (or a head of 0 records) is an empty chain.

    Holds the append lock (unless ``lock=False``) so a run appending meanwhile is not read half-written.
    """
    path = Path(audit_path)
    by_fp = verification_keys(config, keys)
    if lock and path.exists():  # no lock file is made beside a log that is not there
        with _locked(path):
            return _verify_unlocked(path, head_store, by_fp)
    return _verify_unlocked(path, head_store, by_fp)


def _seal_problem(rec: Mapping[str, Any], keys: Mapping[str, str], res: VerifyResult, keyed_before: bool) -> str | None:
    """Check one record's seal (counting how it was sealed); the problem in words, or None."""
    version = rec.get("hash_version", 1)
    if version == 1:
        if keyed_before:
            return "a plain SHA-256 record after keyed ones (rewritten by a tool without the key?)"
        res.plain += 1
        return None if record_hash(rec) == rec.get("hash") else "the record was changed (its hash does not match its content)"
    if version != HASH_VERSION:
        return f"unknown hash_version {version!r}"
    fp = str(rec.get("key_fingerprint"))
    if bool(rec.get("demo_key")) != (fp == DEMO_FINGERPRINT):
        return "its demo_key flag does not match its key fingerprint"
    key = keys.get(fp)
    if key is None:
        res.unchecked.append(str(rec.get("run_id")))
        if fp not in res.unchecked_fingerprints:
            res.unchecked_fingerprints.append(fp)
        return None
    if not seal.same(record_seal(rec, key), rec.get("hash")):
        return "the record was changed (its seal does not match its content: edited, or rehashed without the key)"
    if fp == DEMO_FINGERPRINT:
        res.demo_sealed.append(str(rec.get("run_id")))
    else:
        res.council_sealed += 1
    return None


def _verify_unlocked(path: Path, head_store: HeadStore | None, keys: Mapping[str, str] | None = None) -> VerifyResult:
    keys = keys if keys is not None else verification_keys()
    heads = _head_store(path, head_store)
    res = VerifyResult(ok=True)
    try:
        res.head = heads.get()
    except InputError as exc:
        return _bad(res, None, None, None, str(exc))
    if not path.exists():
        if res.head is not None and res.head[1] > 0:
            return _bad(res, 1, 1, None, f"the log is missing but the head store records {res.head[1]} records")
        res.missing = True
        return _bad(res, None, None, None, "there is no audit log here (never written, moved or deleted)")

    prev_hash, count = GENESIS_HASH, 0
    checkpoint: dict[str, Any] | None = None
    prune_records: dict[str, dict[str, Any]] = {}
    fingerprints: dict[int, str | None] = {}  # seq -> key fingerprint (None: a version 1 record)
    keyed_before = False
    last_line = 0
    for n, raw, ended in _iter_lines(path):
        last_line = n
        res.lines = n
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            what = "is half-written (cut off mid-record)" if not ended else "is not a readable JSON record"
            return _bad(res, n, count + 1, _guess_run_id(raw), f"the line {what}")
        if not ended:
            return _bad(res, n, count + 1, rec.get("run_id"), "the last line has no end of line (half-written)")
        if rec.get("record_type") == "checkpoint":
            if n != 1:
                return _bad(res, n, None, None, "a prune checkpoint may only be the first line")
            if record_hash(rec) != rec.get("hash"):
                return _bad(res, n, None, None, "the prune checkpoint was changed (its hash does not match)")
            try:
                prev_hash, count = _chain_state(rec)
            except (KeyError, TypeError, ValueError):
                return _bad(res, n, None, None, "the prune checkpoint is malformed")
            checkpoint = rec
            res.pruned = count
            continue
        seq = rec.get("seq")
        run_id = rec.get("run_id")
        problem = _seal_problem(rec, keys, res, keyed_before)
        if problem:
            return _bad(res, n, seq, run_id, problem)
        keyed_before = keyed_before or rec.get("hash_version", 1) != 1
        if rec.get("prev_hash") != prev_hash:
            expected = count + 1
            if isinstance(seq, int) and seq > expected:
                gap = f"record {expected} before it was" if seq == expected + 1 else f"records {expected}..{seq - 1} before it were"
                why = f"{gap} removed"
            elif isinstance(seq, int) and seq < expected:
                why = "records were reordered or repeated"
            else:
                why = "the record before it was changed, removed or reordered"
            return _bad(res, n, seq, run_id, f"it does not follow the record before it ({why})")
        if seq != count + 1:
            return _bad(res, n, seq, run_id, f"its sequence number is {seq}, expected {count + 1}")
        for w in rec.get("chain_warnings", []):
            return _bad(res, n, seq, run_id, f"when this record was appended, the log and head disagreed: {w}")
        for r in rec.get("repairs", []):
            if "removed_half_written_line_bytes" in r:
                res.warnings.append(
                    f"line {n} (run {run_id}): a half-written line of {r['removed_half_written_line_bytes']} bytes "
                    "left by an interrupted run was removed before it"
                )
        if rec.get("record_type") == "prune":
            prune_records[str(run_id)] = rec
        fingerprints[seq] = str(rec["key_fingerprint"]) if rec.get("hash_version", 1) != 1 else None
        prev_hash, count = rec["hash"], seq

    res.records, res.last_hash = count, prev_hash
    if res.demo_sealed and res.council_sealed:
        res.warnings.append(
            f"{len(res.demo_sealed)} record(s) are sealed with the public demo key among council-sealed ones "
            f"(commands run without the council key, or records rewritten with the demo key): runs {', '.join(res.demo_sealed[:10])}"
        )
    if res.plain:
        res.warnings.append(f"{res.plain} record(s) are plain SHA-256 (written before keyed seals): anyone can recompute those")
    if checkpoint is not None:
        prune = prune_records.get(str(checkpoint.get("prune_run_id")))
        pruned = (prune or {}).get("pruned", {})
        if (
            prune is None
            or pruned.get("count_total") != checkpoint["pruned_count"]
            or pruned.get("last_hash") != checkpoint["last_pruned_hash"]
        ):
            return _bad(res, 1, None, None, "the prune checkpoint does not match the prune record in the chain")
    head = res.head
    if head is None:
        if count > 0:
            return _bad(res, None, None, None, f"the head store is missing ({heads_name(heads)}): cannot check the end of the log")
        return res
    head_hash, head_count = head
    check_head_seal = getattr(heads, "seal_problem", None)
    if check_head_seal is not None and head_count in fingerprints:
        problem = check_head_seal(keys, fingerprints[head_count])
        if problem:
            return _bad(res, None, head_count, None, problem)
    if head_count > count:
        return _bad(
            res,
            last_line + 1,
            count + 1,
            None,
            f"records were cut off the end: the head store records {head_count}, the log holds {count}"
            + (f" (last present: run {_last_run_id(path)})" if count else ""),
        )
    if head_count == count and head_hash != prev_hash:
        return _bad(res, last_line, count, _last_run_id(path), "the last record does not match the head store")
    if head_count < count:
        tail = read_records(path)[-(count - head_count) :]
        if count == head_count + 1 and tail and tail[0].get("prev_hash") == head_hash:
            res.warnings.append(
                f"the last record (run {tail[0].get('run_id')}) is not in the head store yet "
                "(an interrupted append); the next run completes it"
            )
        else:
            first = tail[0] if tail else {}
            return _bad(
                res,
                last_line - (count - head_count) + 1,
                head_count + 1,
                first.get("run_id"),
                f"the log holds {count} records but the head store only {head_count}: records were added outside tfclaims",
            )
    return res


def heads_name(heads: HeadStore) -> str:
    return str(getattr(heads, "path", type(heads).__name__))


def _last_run_id(path: Path) -> str | None:
    line, _ = _read_tail(path)
    return _guess_run_id(line) if line else None


def _bad(res: VerifyResult, line: int | None, seq: Any, run_id: Any, problem: str) -> VerifyResult:
    res.ok = False
    res.first_bad_line = line
    res.first_bad_seq = seq if isinstance(seq, int) else None
    res.first_bad_run_id = str(run_id) if run_id is not None else None
    res.problem = problem
    return res


# --------------------------------------------------------------------------------------------
# the run record a command builds


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    bad = sorted(k for k in params if k.lower() in PERSONAL_PARAM_NAMES)
    if bad:
        raise ValueError(
            f"audit parameters {', '.join(bad)} would put personal data in the audit log: "
            "record them with RunRecord.touched() instead"
        )
    out = json.loads(canonical_json(dict(params)))  # plain JSON now: fails early on odd values
    return {k: _masked(v) for k, v in out.items()}


def _masked(value: Any) -> Any:
    """A parameter with every URL password in it masked (a ledger URL is recorded, its password never)."""
    if isinstance(value, str):
        return display_target(value) if "://" in value else value
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


class RunRecord:
    """What one run did, collected while it runs and appended once when it ends."""

    def __init__(
        self,
        *,
        command: str,
        params: Mapping[str, Any] | None = None,
        purposes: Sequence[str] | None = None,
        register: Register | None = None,
        config: CouncilConfig | None = None,
        key: str | None = None,
        operator: str | None = None,
        run_id: str | None = None,
    ):
        self.register = register or load_register()
        if purposes is None:
            self.purposes = purpose_for_command(command, self.register)
        else:
            self.purposes = tuple(purposes)
            for p in self.purposes:
                self.register.purpose(p)
        self.command = command
        self.params = _check_params(params or {})
        self.run_id = run_id or new_run_id()
        self.operator = operator or operator_name()
        self.started = _utc_now()
        self._key, self._demo_key = resolve_key(config, key)
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._framework: dict[str, Any] | None = None
        self._families: set[str] = set()
        self._people: set[str] = set()
        self._sorted: dict[str, HexDigests] = {}  # the hashes in order, as the record lists them (made once per change)
        self._hashing: list[tuple[str, Future[list[str]]]] = []  # keyed hashes being computed beside the run
        self._notes: dict[str, Any] = {}

    # -- what commands call
    def input(self, path: Path | str, rows: int | Mapping[str, int] | None = None) -> None:
        """An input file (SHA-256 computed) or folder (each file); ``rows``: a count or counts per table/sheet."""
        p = Path(path)
        rows_json = dict(rows) if isinstance(rows, Mapping) else rows
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            self._inputs.append(
                {
                    "path": str(p),
                    "kind": "folder",
                    "rows": rows_json,
                    "files": [
                        {"path": str(f.relative_to(p)), "sha256": sha256_file(f), "bytes": f.stat().st_size}
                        for f in files
                    ],
                }
            )
        elif p.is_file():
            self._inputs.append(
                {"path": str(p), "kind": "file", "rows": rows_json, "sha256": sha256_file(p), "bytes": p.stat().st_size}
            )
        else:
            raise InputError(f"{p}: input not found")

    def framework(
        self,
        name: str,
        version: str | None = None,
        sha256: str | None = None,
        plan: Path | str | None = None,
        plan_sha256: str | None = None,
    ) -> None:
        if plan is not None and plan_sha256 is None and Path(plan).is_file():
            plan_sha256 = sha256_file(plan)
        self._framework = {
            "name": name,
            "version": version,
            "sha256": sha256,
            "plan": str(plan) if plan is not None else None,
            "plan_sha256": plan_sha256,
        }

    def check_output(self, file_name: str, recipient: str | None = None, purpose: str | None = None) -> tuple[str | None, str]:
        """(purpose, recipient) for an output, refusing (``InputError``) a recipient its purpose does not allow.

        Call it before writing a file that must not exist when refused; ``output`` calls it too.
        """
        default_purpose, default_recipient = output_route(file_name, self.purposes, self.register)
        purpose = purpose or default_purpose
        recipient = recipient or default_recipient
        if purpose is None:  # a command without a purpose (synth): no personal data
            self.register.recipient(recipient)
            return None, recipient
        if purpose not in self.purposes:
            raise InputError(f"output {file_name}: purpose {purpose!r} is not one this run ({self.command}) runs under")
        check_recipient(purpose, recipient, self.register)
        return purpose, recipient

    def output(self, path: Path | str, recipient: str | None = None, purpose: str | None = None, *, sha256: str | None = None) -> None:
        """An output written by the run: SHA-256 (``sha256`` when the writer has just computed it),
        purpose and recipient (default from the register)."""
        p = Path(path)
        purpose, recipient = self.check_output(p.name, recipient, purpose)
        if not p.is_file():
            raise InputError(f"{p}: output not found (record outputs after writing them)")
        self._outputs.append(
            {"path": str(p), "sha256": sha256 or sha256_file(p), "bytes": p.stat().st_size, "purpose": purpose, "recipient": recipient}
        )

    def touched(self, family_ids: Iterable[Any] | pd.Series | None = None, person_ids: Iterable[Any] | pd.Series | None = None) -> None:
        """Families and people whose data the run used, kept as keyed hashes (several calls add up)."""
        if not self.purposes and (family_ids is not None or person_ids is not None):
            raise ValueError(f"command {self.command!r} runs under no purpose and may not touch personal data")
        # Many ids are hashed on a thread beside the run (DuckDB leaves the GIL), settled before anything reads them.
        for kind, ids in (("families", family_ids), ("people", person_ids)):
            if ids is None:
                continue
            ids = ids if isinstance(ids, pd.Series) else list(ids)  # taken now: the caller may change its own
            subject = "family" if kind == "families" else "person"
            if len(ids) >= _DUCKDB_FROM:
                self._hashing.append((kind, _hasher().submit(keyed_hashes, ids, self._key, subject)))
            else:
                self._add_hashes(kind, keyed_hashes(ids, self._key, subject))

    def _settle(self) -> None:
        """Fold the hashes computed beside the run into the touched sets (an error in hashing is raised here)."""
        while self._hashing:
            kind, done = self._hashing.pop(0)
            self._add_hashes(kind, done.result())

    def _add_hashes(self, kind: str, hashes: list[str]) -> None:
        (self._families if kind == "families" else self._people).update(hashes)
        self._sorted.pop(kind, None)

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The inputs recorded so far (paths, SHA-256, row counts), for a run summary to reuse."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs recorded so far (path, SHA-256, purpose, recipient)."""
        return list(self._outputs)

    def note(self, key: str, value: Any) -> None:
        """A small fact about the run (counts, seed, sample size). No personal data."""
        self._notes[key] = json.loads(canonical_json(value))

    def _in_order(self, kind: str, hashes: set[str]) -> HexDigests:
        """``sorted(hashes)``, kept until the set changes: a run's pending and final records list the
        same million hashes (numpy sorts fixed-width hex as ``sorted`` does, by code point)."""
        self._settle()
        if kind not in self._sorted:
            arr = np.fromiter(hashes, dtype=f"U{SUBJECT_HASH_HEX + 1}", count=len(hashes))
            fits = not len(arr) or int(np.char.str_len(arr).max()) <= SUBJECT_HASH_HEX  # one char to spare: nothing was cut
            self._sorted[kind] = HexDigests(np.sort(arr).tolist() if fits else sorted(hashes))
        return self._sorted[kind]

    def recorded_error(self, exc: BaseException) -> str:
        """The error as the log keeps it: URL passwords masked, and every family or person id it names
        (attached with ``tfclaims.core.redact.name_subjects``, or one this run touched) as its keyed hash."""
        if isinstance(exc, KeyboardInterrupt):
            return INTERRUPTED
        message = mask_urls(f"{type(exc).__name__}: {exc}")
        attached = subjects_of(exc)
        for kind, ids in attached.items():
            for ident in sorted(ids, key=len, reverse=True):
                pattern = re.compile(rf"(?<![\w\-]){re.escape(ident)}(?![\w\-])")
                message = pattern.sub(f"{kind}:{keyed_hash(ident, self._key, kind)}", message)
        return _ID_TOKEN.sub(self._hashed_if_touched, message)[:ERROR_MESSAGE_MAX]

    def _hashed_if_touched(self, match: re.Match[str]) -> str:
        token = match.group(0)
        self._settle()
        for kind, touched in (("family", self._families), ("person", self._people)):
            if touched and keyed_hash(token, self._key, kind) in touched:
                return f"{kind}:{keyed_hash(token, self._key, kind)}"
        return token

    # -- building the record
    def to_record(self, status: str, error: str | None = None) -> dict[str, Any]:
        self._settle()
        return {
            "record_type": "run",
            "run_id": self.run_id,
            "time": _utc_now(),
            "started": self.started,
            "operator": self.operator,
            "host": socket.gethostname(),
            "version": tfclaims.__version__,
            "command": self.command,
            "params": self.params,
            "purposes": list(self.purposes),
            "lawful_bases": {p: self.register.lawful_basis_articles(p) for p in self.purposes},
            "register_notice_date": self.register.notice.last_updated.isoformat(),
            "framework": self._framework,
            "inputs": self._inputs,
            "outputs": self._outputs,
            "touched": {
                "key_fingerprint": key_fingerprint(self._key),
                "demo_key": self._demo_key,
                "families": {"count": len(self._families), "hashes": self._in_order("families", self._families)},
                "people": {"count": len(self._people), "hashes": self._in_order("people", self._people)},
            },
            "notes": self._notes,
            "status": status,
            "error": error,
        }


INTERRUPTED = "interrupted (Ctrl-C)"  # the error of a run stopped by its user


@contextlib.contextmanager
def run_record(
    command: str,
    params: Mapping[str, Any] | None = None,
    *,
    audit_path: Path | str | None = None,
    operator: str | None = None,
    config: CouncilConfig | None = None,
    purposes: Sequence[str] | None = None,
    run_id: str | None = None,
    key: str | None = None,
    head_store: HeadStore | None = None,
    register: Register | None = None,
    log: AuditLog | None = None,
) -> Iterator[RunRecord]:
    """Collect a run's record and append it when the block ends: ``succeeded``, or ``failed`` with the
    error message when an exception escapes (the exception is re-raised). ``log``: where the chain is
    kept (default: the file ``audit_path``, its head in ``head_store``).

    A command whose purpose the register lacks raises ``InputError`` before the block runs.
    """
    if log is None:
        log = FileLog(Path(audit_path) if audit_path is not None else default_audit_path(), head_store)
    rec = RunRecord(
        command=command, params=params, purposes=purposes, register=register, config=config,
        key=key, operator=operator, run_id=run_id,
    )  # fmt: skip
    try:
        yield rec
    except BaseException as exc:
        message = rec.recorded_error(exc)
        try:
            log.append(rec.to_record("failed", message), rec._key)
        except Exception as audit_exc:  # keep the run's own error; say the record is missing
            exc.add_note(f"the audit record of run {rec.run_id} could not be written: {audit_exc}")
        raise
    log.append(rec.to_record("succeeded"), rec._key)


# --------------------------------------------------------------------------------------------
# subject access


@dataclass
class SubjectAccessResult:
    """The runs that used one person's (or family's) data, and what could not be searched."""

    kind: str
    runs: list[dict[str, Any]]
    records_searched: int
    unsearchable_runs: list[str]  # runs whose ids were hashed with a key not given


def _subject_runs(audit_path: Path | str, identifier: str, keys: str | Sequence[str] | None, kind: str) -> SubjectAccessResult:
    if keys is None:
        key_list = [DEMO_REFERENCE_KEY]
    elif isinstance(keys, str):
        key_list = [keys]
    else:
        key_list = list(dict.fromkeys(keys))
    wanted = {key_fingerprint(k): keyed_hash(identifier, k, kind) for k in key_list}
    group = "people" if kind == "person" else "families"
    register: Register | None = None
    runs: list[dict[str, Any]] = []
    unsearchable: list[str] = []
    searched = 0
    for rec in iter_records(audit_path):
        touched = rec.get("touched") or {}
        hashes = (touched.get(group) or {}).get("hashes") or []
        if not hashes:
            continue
        target = wanted.get(touched.get("key_fingerprint"))
        if target is None:
            unsearchable.append(str(rec.get("run_id")))
            continue
        searched += 1
        i = bisect_left(hashes, target)
        if i < len(hashes) and hashes[i] == target:
            register = register or load_register()
            purposes = rec.get("purposes", [])
            runs.append(
                {
                    "run_id": rec.get("run_id"),
                    "time": rec.get("time"),
                    "command": rec.get("command"),
                    "status": rec.get("status"),
                    "operator": rec.get("operator"),
                    "purposes": purposes,
                    "purpose_wording": {p: _wording(register, p) for p in purposes},
                    "lawful_bases": rec.get("lawful_bases", {}),
                    "outputs": [
                        {
                            "path": o.get("path"),
                            "purpose": o.get("purpose"),
                            "recipient": o.get("recipient"),
                            "recipient_name": _recipient_name(register, o.get("recipient")),
                        }
                        for o in rec.get("outputs", [])
                    ],
                }
            )
    # a claim run appends a "pending" record before it records claims, then its final one: one run, listed once (the last word)
    runs = list({r["run_id"]: r for r in runs}.values())
    return SubjectAccessResult(kind=kind, runs=runs, records_searched=searched, unsearchable_runs=unsearchable)


def _wording(register: Register, purpose: str) -> str:
    try:
        return register.purpose(purpose).wording
    except InputError:
        return "(no longer in the register)"


def _recipient_name(register: Register, recipient: str | None) -> str | None:
    if recipient is None:
        return None
    try:
        return register.recipient(recipient).name
    except InputError:
        return "(no longer in the register)"


def person_runs(audit_path: Path | str, person_id: str, key: str | Sequence[str] | None = None) -> SubjectAccessResult:
    """Runs, purposes and outputs that used this person's data. ``key``: the council key(s) (None: demo key)."""
    return _subject_runs(audit_path, person_id, key, "person")


def family_runs(audit_path: Path | str, family_id: str, key: str | Sequence[str] | None = None) -> SubjectAccessResult:
    """Runs, purposes and outputs that used this family's data."""
    return _subject_runs(audit_path, family_id, key, "family")


# --------------------------------------------------------------------------------------------
# retention


@dataclass
class PruneResult:
    removed: int
    kept: int
    prune_run_id: str | None
    before: dt.date


@dataclass(frozen=True)
class PrunePlan:
    """What ``prune`` would remove: ``count`` records, dated ``first_time`` to ``last_time``; ``kept`` stay."""

    before: dt.date
    count: int
    kept: int
    first_time: str | None = None
    last_time: str | None = None


def retention_cutoff(retention_years: int, today: dt.date | None = None) -> dt.date:
    """The first day still kept when records are kept ``retention_years`` years."""
    today = today or dt.datetime.now(dt.UTC).date()
    try:
        return today.replace(year=today.year - retention_years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - retention_years, day=28)


def _record_date(rec: Mapping[str, Any]) -> dt.date:
    return dt.datetime.fromisoformat(str(rec["time"]).replace("Z", "+00:00")).date()


def check_prune_date(before: dt.date, today: dt.date | None = None) -> None:
    """Refuse (``InputError``) a prune date after today (UTC): it would remove records of runs not yet past retention."""
    today = today or dt.datetime.now(dt.UTC).date()
    if before > today:
        raise InputError(f"{before} is in the future (today is {today}): records are pruned only up to today")


@dataclass(frozen=True)
class _Prunable:
    """The log split for a prune: the old checkpoint (if any), the record lines after it, and how many go."""

    checkpoint: dict[str, Any] | None
    body: list[bytes]
    records: list[dict[str, Any]]
    count: int


def _prunable_unlocked(path: Path, heads: HeadStore, before: dt.date, key: str) -> _Prunable:
    """Under the lock: verify the log (a missing or broken one, or one with seals ``key`` cannot check, is
    refused) and find the records dated before ``before``."""
    check_prune_date(before)
    check = _verify_unlocked(path, heads, verification_keys(keys=[key]))
    if not check.ok:
        raise InputError(f"{path}: not pruning a broken audit trail: {check.message()}")
    if not check.sealed_ok:
        raise InputError(
            f"{path}: not pruning: {len(check.unchecked)} records are sealed with a key not given "
            f"({', '.join(check.unchecked_fingerprints)}); give the council key (TFCLAIMS_REFERENCE_KEY or --config)"
        )
    lines = [raw for _, raw, _ in _iter_lines(path)]
    checkpoint = json.loads(lines[0]) if lines and b'"record_type":"checkpoint"' in lines[0] else None
    body = lines[1:] if checkpoint else lines
    recs = [json.loads(raw) for raw in body]
    k = 0
    while k < len(recs) and _record_date(recs[k]) < before:
        k += 1
    return _Prunable(checkpoint, body, recs, k)


def _require_log(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: not pruning: there is no audit log here")


def plan_prune(
    audit_path: Path | str, before: dt.date, head_store: HeadStore | None = None, key: str | None = None
) -> PrunePlan:
    """What ``prune(audit_path, before)`` would remove, changing nothing. Refuses what ``prune`` refuses."""
    path = Path(audit_path)
    _require_log(path)
    with _locked(path):
        found = _prunable_unlocked(path, _head_store(path, head_store), before, key or resolve_key()[0])
    removed = found.records[: found.count]
    return PrunePlan(
        before=before,
        count=found.count,
        kept=len(found.records) - found.count,
        first_time=removed[0]["time"] if removed else None,
        last_time=removed[-1]["time"] if removed else None,
    )


def prune(
    audit_path: Path | str,
    before: dt.date,
    head_store: HeadStore | None = None,
    operator: str | None = None,
    key: str | None = None,
) -> PruneResult:
    """Remove the records (from the start of the log) dated before ``before``, keeping the chain verifiable.

    Under the lock: the log must exist and verify first, and ``before`` may not be after today; a
    ``prune`` record (who, when, what: count, last hash and SHA-256 of the removed lines) is appended
    to the chain, and the log is rewritten atomically as a ``checkpoint`` line (pruned count and last
    pruned hash, naming the prune record) followed by the kept records. Records are removed only from
    the start, up to the first one on or after ``before``. ``key``: the reference key that checks the
    seals and seals the prune record (default: the council's from the environment, else the demo key).
    """
    path = Path(audit_path)
    _require_log(path)
    heads = _head_store(path, head_store)
    key = key or resolve_key()[0]
    with _locked(path):
        found = _prunable_unlocked(path, heads, before, key)
        if found.count == 0:
            return PruneResult(0, len(found.records), None, before)
        prune_rec, checkpoint = _prune_records(found, before, operator, key)
        with atomic_write(path, "wb") as fh:
            fh.write(canonical_json(checkpoint) + b"\n")
            for raw in found.body[found.count :]:
                fh.write(raw + b"\n")
            fh.write(canonical_json(prune_rec) + b"\n")
        heads.set(prune_rec["hash"], prune_rec["seq"], key)
        return PruneResult(found.count, len(found.records) - found.count, prune_rec["run_id"], before)


def _prune_records(found: _Prunable, before: dt.date, operator: str | None, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ``prune`` record appended to the chain, the ``checkpoint`` line put first)."""
    k = found.count
    removed = found.records[:k]
    already = int(found.checkpoint["pruned_count"]) if found.checkpoint else 0
    digest = hashlib.sha256()
    for raw in found.body[:k]:
        digest.update(raw + b"\n")
    prune_rec = RunRecord(
        command="audit prune", params={"before": before.isoformat()}, purposes=(), operator=operator, key=key
    ).to_record("succeeded")
    prune_rec["record_type"] = "prune"
    prune_rec["pruned"] = {
        "before": before.isoformat(),
        "count": k,
        "count_total": already + k,
        "first_seq": removed[0]["seq"],
        "last_seq": removed[-1]["seq"],
        "first_time": removed[0]["time"],
        "last_time": removed[-1]["time"],
        "last_hash": removed[-1]["hash"],
        "removed_lines_sha256": digest.hexdigest(),
    }
    last = found.records[-1]
    prune_rec["seq"] = last["seq"] + 1
    prune_rec["prev_hash"] = last["hash"]
    _seal_record(prune_rec, key)
    checkpoint = {
        "record_type": "checkpoint",
        "time": prune_rec["time"],
        "pruned_before": before.isoformat(),
        "pruned_count": already + k,
        "last_pruned_hash": removed[-1]["hash"],
        "prune_run_id": prune_rec["run_id"],
    }
    checkpoint["hash"] = record_hash(checkpoint)
    return prune_rec, checkpoint
