"""Who runs a command: the operator recorded in the audit trail and the ledger."""

from __future__ import annotations

import getpass
import os

__all__ = ["operator_name"]


def operator_name() -> str:
    """The OS user's login name; $USER or $USERNAME where there is no user database entry; else ``uid:N``."""
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return os.environ.get("USER") or os.environ.get("USERNAME") or f"uid:{os.getuid()}"
