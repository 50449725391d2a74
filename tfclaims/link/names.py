"""Name normalisation for the link stage: case, accents, hyphens and apostrophes, English nicknames.

Everything is vectorised over pandas Series (a million names take seconds, not minutes).

- ``normalise_name``: ``"O'Brien-Smith"`` -> ``"obriensmith"``, ``"Zoë"`` -> ``"zoe"``, ``"  JOSÉ "`` -> ``"jose"``.
- ``first_name_keys``: the nickname groups a first name belongs to, as ``|``-joined sorted keys:
  ``"Bill"`` -> ``"william"``, ``"William"`` -> ``"william"``, ``"Sam"`` -> ``"samantha|samuel"``,
  a name in no group -> itself. Two first names are *nickname-compatible* when their key sets intersect.

The nickname table is data: ``data/reference/nicknames.yaml`` (full name -> list of short forms).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pandas as pd

from tfclaims.core.resources import REFERENCE_DIR, safe_yaml

NICKNAMES_FILE = REFERENCE_DIR / "nicknames.yaml"
KEY_SEPARATOR = "|"

# letters NFKD does not decompose into ASCII
_SPECIAL_LETTERS = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "œ": "oe", "Œ": "OE"}


def normalise_name(s: pd.Series) -> pd.Series:
    """Lower case, accents removed, letters only; blank becomes missing. Keeps the index."""
    s = s.astype("str").str.strip()
    non_ascii = s.notna() & ~s.str.isascii().fillna(True).astype(bool)  # pandas 3: isascii(NaN) is False
    if non_ascii.any():
        odd = s[non_ascii]
        for letter, plain in _SPECIAL_LETTERS.items():
            odd = odd.str.replace(letter, plain, regex=False)
        odd = odd.str.normalize("NFKD").str.encode("ascii", errors="ignore").str.decode("ascii")
        s = s.mask(non_ascii, odd.astype("str"))
    out = s.str.lower().str.replace(r"[^a-z]", "", regex=True)
    return out.mask(out == "").astype("str")


@lru_cache(maxsize=4)
def nickname_groups(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Full name -> its short forms, normalised, as written in the nickname file."""
    with open(path or NICKNAMES_FILE, encoding="utf-8") as fh:
        raw = safe_yaml(fh) or {}
    shorts = [[str(n) for n in (short or [])] for short in raw.values()]
    names = normalise_name(pd.Series([str(full) for full in raw] + [n for group in shorts for n in group], dtype="str")).tolist()
    fulls, rest = names[: len(raw)], iter(names[len(raw):])  # normalised in one pass, then dealt back in order
    return {full: tuple(next(rest) for _ in group) for full, group in zip(fulls, shorts, strict=True)}


@lru_cache(maxsize=4)
def _key_table(path: Path | None = None) -> dict[str, str]:
    """Normalised first name -> ``|``-joined sorted keys of every group it belongs to."""
    keys: dict[str, set[str]] = defaultdict(set)
    for full, shorts in nickname_groups(path).items():
        keys[full].add(full)
        for short in shorts:
            keys[short].add(full)
    return {name: KEY_SEPARATOR.join(sorted(groups)) for name, groups in keys.items()}


def first_name_keys(s: pd.Series, *, already_normalised: bool = False, path: Path | None = None) -> pd.Series:
    """The nickname-group keys of each first name (``|``-joined); a name in no group is its own key."""
    norm = s.astype("str") if already_normalised else normalise_name(s)
    table = _key_table(path)
    return norm.map(table).fillna(norm).astype("str")


def explode_keys(keys: pd.Series) -> pd.Series:
    """One row per (original index, key): ``"samantha|samuel"`` becomes two rows with the same index."""
    return keys.str.split(KEY_SEPARATOR).explode().dropna().astype("str")


def nickname_compatible(a: pd.Series, b: pd.Series) -> pd.Series:
    """True where the two first names (aligned by position) share a nickname group or are equal once normalised."""
    ka = explode_keys(first_name_keys(a).reset_index(drop=True))
    kb = explode_keys(first_name_keys(b).reset_index(drop=True))
    pairs = pd.DataFrame({"i": ka.index, "key": ka.to_numpy()}).merge(
        pd.DataFrame({"i": kb.index, "key": kb.to_numpy()}), on=["i", "key"]
    )
    out = pd.Series(False, index=range(len(a)))
    out.loc[pairs["i"].unique()] = True
    return pd.Series(out.to_numpy(), index=a.index)
