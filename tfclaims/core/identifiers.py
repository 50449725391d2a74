"""UK public-sector identifiers: vectorised checks and normalisers (NHS number, UPN, NI number, postcode).

Every function takes and returns pandas Series so that a million values are checked without a
Python loop per value. Missing values are never "valid": callers combine with ``isna()`` where a
field is optional.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O, S
_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)
_UPN_WEIGHTS = np.arange(2, 14, dtype=np.int64)

# byte -> value for the UPN check: digits are their value, letters their position in UPN_LETTERS
_UPN_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate("0123456789"):
    _UPN_VALUE[ord(_c)] = _i
for _i, _c in enumerate(UPN_LETTERS):
    _UPN_VALUE[ord(_c)] = _i

_NI_RE = r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]"
_POSTCODE_RE = r"([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})"
_UPN_RE = r"[A-HJ-NP-RT-Z]\d{11}[0-9A-HJ-NP-RT-Z]"


def _as_str(s: pd.Series) -> pd.Series:
    return s.astype("str")


def _fixed_width_bytes(s: pd.Series, ok: np.ndarray, width: int) -> np.ndarray:
    """The ASCII bytes of the strings where ``ok`` (all exactly ``width`` long), as an (n, width) array."""
    out = np.zeros((len(s), width), dtype=np.uint8)
    if ok.any():
        joined = "".join(s[ok].tolist()).encode("ascii")
        out[ok] = np.frombuffer(joined, dtype=np.uint8).reshape(-1, width)
    return out


def normalise_nhs_number(s: pd.Series) -> pd.Series:
    """Strip spaces and hyphens (``943 476 5919`` -> ``9434765919``)."""
    return _as_str(s).str.replace(" ", "", regex=False).str.replace("-", "", regex=False)


def nhs_number_valid(s: pd.Series) -> pd.Series:
    """True for 10-digit strings whose modulus-11 check digit is right."""
    s = _as_str(s)
    ok = s.str.fullmatch(r"\d{10}").fillna(False).to_numpy(dtype=bool)
    d = _fixed_width_bytes(s, ok, 10).astype(np.int64) - 48
    check = (11 - (d[:, :9] @ _NHS_WEIGHTS) % 11) % 11
    return pd.Series(ok & (check != 10) & (check == d[:, 9]), index=s.index)


def upn_valid(s: pd.Series) -> pd.Series:
    """True for 13-character UPNs (temporary ones included) whose check letter is right."""
    s = _as_str(s)
    ok = s.str.fullmatch(_UPN_RE).fillna(False).to_numpy(dtype=bool)
    b = _fixed_width_bytes(s, ok, 13)
    values = _UPN_VALUE[b[:, 1:]]
    total = (values * _UPN_WEIGHTS).sum(axis=1) % 23
    expected = np.frombuffer(UPN_LETTERS.encode("ascii"), dtype=np.uint8)[total]
    return pd.Series(ok & (b[:, 0] == expected), index=s.index)


def upn_check_letter(body12: str) -> str:
    """The check letter for the 12 characters after it."""
    total = sum(w * (int(c) if c.isdigit() else UPN_LETTERS.index(c)) for w, c in zip(range(2, 14), body12))
    return UPN_LETTERS[total % 23]


def normalise_ni_number(s: pd.Series) -> pd.Series:
    return _as_str(s).str.upper().str.replace(" ", "", regex=False)


def ni_number_valid(s: pd.Series) -> pd.Series:
    """True for National Insurance numbers of the right format (``QQ123456C``; no D F I Q U V prefixes)."""
    return _as_str(s).str.fullmatch(_NI_RE).fillna(False).astype(bool)


def normalise_postcode(s: pd.Series) -> pd.Series:
    """``sw1a1aa`` -> ``SW1A 1AA``; a value that cannot be a UK postcode shape becomes missing."""
    compact = _as_str(s).str.upper().str.replace(r"\s", "", regex=True)
    m = compact.str.fullmatch(_POSTCODE_RE).fillna(False).astype(bool)
    spaced = compact.str[:-3] + " " + compact.str[-3:]
    return spaced.where(m)
