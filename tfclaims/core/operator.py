"""Who runs a command when no ``--operator`` is given: the operating-system user."""

from __future__ import annotations

import getpass
import os


def operator_name() -> str:
    """The OS user's login name; else ``$USER`` or ``$USERNAME``; else ``uid:N`` (a container without a passwd entry)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError (or KeyError on older Pythons) without a user database entry
        return os.environ.get("USER") or os.environ.get("USERNAME") or f"uid:{os.getuid()}"
