"""The ``tfclaims`` command's entry point: the process set up, then the command line.

glibc's ``malloc`` on Linux backs a large array with 4 KB pages unless asked for huge ones, and a
county-scale run allocates and frees tens of gigabytes over its stages (each freed array goes back
to the system at once, see ``tfclaims.core.memory``): on the replicated 1M-person cohort about four
million page faults, a third of the run's CPU time in the kernel. With glibc's ``hugetlb`` tunable
its memory is asked for as transparent huge pages (2 MB), and the same claim took about 10% less
time, at the same peak memory. A tunable is read only when a process starts, so the command starts
itself again once, in the same process (``exec``: the same process id, nothing runs twice), with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``.

Nothing is changed when ``GLIBC_TUNABLES`` is already set (to anything, even empty: that is how to
turn this off), off Linux, or under a glibc older than 2.35 (which has no such tunable). Results
never depend on it: only where memory comes from. This module imports nothing heavy, so the restart
costs a few milliseconds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["run"]

TUNABLES_ENV = "GLIBC_TUNABLES"
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def _glibc_has_hugetlb() -> bool:
    try:
        name, _, version = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")  # "glibc 2.36"
        major, minor = (int(x) for x in version.split(".")[:2])
    except (AttributeError, ValueError, OSError, TypeError):  # not glibc (musl, macOS, Windows)
        return False
    return name == "glibc" and (major, minor) >= (2, 35)


def huge_pages_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to start again with, or None when this process should go on as it is."""
    if TUNABLES_ENV in environ or not sys.platform.startswith("linux") or not _glibc_has_hugetlb():
        return None
    return {**environ, TUNABLES_ENV: HUGE_PAGES}


def run() -> None:
    """``tfclaims`` as installed: start again with huge pages where that applies, then the command line."""
    env = huge_pages_environment(os.environ)
    if env is not None and sys.orig_argv:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
        except OSError:  # cannot exec (a frozen or odd interpreter): go on without huge pages
            pass
    from tfclaims.cli import main

    main()
