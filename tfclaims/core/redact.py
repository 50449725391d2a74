"""What may be shown or recorded of a secret-bearing value: connection URLs with their password masked,
and the personal ids an error names, attached to it so the audit trail can record them as keyed hashes.

- :func:`display_target` is the one way a ledger target (a file path or a database URL) is printed,
  recorded in the audit trail or put in a message: ``postgresql://user:***@host/db``.
- :func:`mask_urls` masks every URL password inside a free text (an error message from a driver).
- :func:`name_subjects` attaches the family and person ids an exception's message names; the audit
  trail (``tfclaims.audit.trail.run_record``) replaces each of them in the recorded message by its keyed
  hash, so a raw id never lands in the log while the console still shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

MASK = "***"
SUBJECTS_ATTR = "tfclaims_subjects"

# scheme://user:password@ -- the password is everything between the first ':' after the user and the last '@'
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s/]*)(?P<at>@)")

E = TypeVar("E", bound=BaseException)


def display_target(target: str | Path) -> str:
    """A ledger target as it may be shown or recorded: a URL with its password masked, a path as given."""
    text = str(target)
    if "://" not in text:
        return text
    try:
        from sqlalchemy.engine import make_url

        url = make_url(text)
    except Exception:  # not a URL SQLAlchemy reads: mask by pattern
        return mask_urls(text)
    return url.render_as_string(hide_password=True) if url.password is not None else text


def mask_urls(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password masked."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("at"), text)


def name_subjects(exc: E, *, family_ids: Iterable[object] = (), person_ids: Iterable[object] = ()) -> E:
    """Attach the family and person ids ``exc``'s message names (adds to any attached before); returns ``exc``."""
    subjects: dict[str, set[str]] = getattr(exc, SUBJECTS_ATTR, None) or {"family": set(), "person": set()}
    subjects["family"].update(str(f).strip() for f in family_ids if f is not None and str(f).strip())
    subjects["person"].update(str(p).strip() for p in person_ids if p is not None and str(p).strip())
    setattr(exc, SUBJECTS_ATTR, subjects)
    return exc


def subjects_of(exc: BaseException) -> dict[str, set[str]]:
    """The ids attached by :func:`name_subjects` (also those of the exceptions it was raised from)."""
    out: dict[str, set[str]] = {"family": set(), "person": set()}
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for kind, ids in (getattr(current, SUBJECTS_ATTR, None) or {}).items():
            out.setdefault(kind, set()).update(ids)
        current = current.__cause__ or current.__context__
    return out
