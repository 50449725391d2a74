"""Keyed seals: MAC keys derived from the council's reference key, one per use (domain-separated).

The reference key itself is never used as a MAC key: each use derives its own,
``HMAC-SHA-256(reference_key, "tfclaims-<use>-v1")``, so a seal of one kind can never be passed off
as another (an audit record as a ledger row, a head as a record). ``key_fingerprint`` names which key
sealed something without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac

from tfclaims.core.config import DEMO_REFERENCE_KEY

AUDIT_CHAIN = "tfclaims-audit-chain-v1"
AUDIT_HEAD = "tfclaims-audit-head-v1"
LEDGER_ROW = "tfclaims-ledger-row-v1"
USES = (AUDIT_CHAIN, AUDIT_HEAD, LEDGER_ROW)


def key_fingerprint(key: str) -> str:
    """Names which reference key was used, without revealing it (16 hex)."""
    return hashlib.sha256(b"tfclaims-audit-key-fingerprint\x00" + key.encode("utf-8")).hexdigest()[:16]


DEMO_FINGERPRINT = key_fingerprint(DEMO_REFERENCE_KEY)


def derive_key(reference_key: str, use: str) -> bytes:
    """The MAC key for one use: HMAC-SHA-256(reference key, use)."""
    if use not in USES:
        raise ValueError(f"unknown seal use {use!r}")
    return hmac.digest(reference_key.encode("utf-8"), use.encode("ascii"), "sha256")


def mac(mac_key: bytes, data: bytes) -> str:
    """HMAC-SHA-256 of ``data`` under a derived key, 64 hex."""
    return hmac.digest(mac_key, data, "sha256").hex()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two seals (None never matches)."""
    return a is not None and b is not None and hmac.compare_digest(str(a), str(b))
