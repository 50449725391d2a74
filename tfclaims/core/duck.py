"""DuckDB connections of a run, with their threads and memory set explicitly.

DuckDB left to itself takes every core and 80% of the machine's memory in each process: two councils'
runs on one machine would each assume they own it. A run sets its council's limits once
(``configure``, from the council config's ``duckdb``); every connection the run opens (the linker's,
the keyed hashes') comes from ``connect``. Without a setting a run takes the cores this process may
use and a third of the machine's memory.
"""

from __future__ import annotations

import os
from typing import Any

from tfclaims.core.config import DuckDBSettings

__all__ = ["configure", "connect", "limits"]

_settings = DuckDBSettings()


def configure(settings: DuckDBSettings) -> None:
    """The limits of this process's next DuckDB connections (one run at a time per process)."""
    global _settings
    _settings = settings


def limits() -> dict[str, Any]:
    """``threads`` and ``memory_limit`` as DuckDB takes them, each given explicitly."""
    threads = _settings.threads or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if _settings.memory_limit:
        memory = _settings.memory_limit.replace(" ", "")
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        memory = f"{max(1, total // 3 // 2**20)}MiB"
    return {"threads": threads, "memory_limit": memory}


def connect() -> Any:
    """A new in-memory DuckDB connection within the run's limits."""
    import duckdb

    return duckdb.connect(config=limits())
