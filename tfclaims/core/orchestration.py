"""How a pipeline's steps are run: directly (plain Python) or as Prefect tasks, and how they report.

The domain pipelines in ``tfclaims.pipeline`` take a ``step`` callable and call every table-level
step through it: ``step("validate people", validate_table, ...)``. ``direct`` just calls the
function; ``flows/`` passes a step that runs it as a Prefect task. So the same code runs with and
without Prefect, and tests and benchmarks measure the stages without Prefect's start-up.

Either way each step reports its start and its end, with its counts and seconds, on the
``tfclaims`` logger (``LOG``): the command line shows those records on the terminal, and a flow
sends them to Prefect's run log as well. The records carry counts, stage names and paths only,
never a value read from the cohort.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from tfclaims.core.memory import return_freed_memory

T = TypeVar("T")

__all__ = ["LOG", "ORCHESTRATOR_ENV", "PREFECT_DEFAULTS", "PREFECT_PORT", "Step", "direct", "describe", "say", "timed", "use_prefect"]

ORCHESTRATOR_ENV = "TFCLAIMS_ORCHESTRATOR"  # "prefect" (default) or "none"
PREFECT_PORT = 4200  # `tfclaims server`'s port: the UI at http://127.0.0.1:4200
LOG = logging.getLogger("tfclaims")

# Prefect settings every tfclaims run gets unless the user configured them: quiet, offline, and no
# task cache (a frame of personal data is never hashed or stored). The command line sets them in its
# environment (``tfclaims.cli``); a flow started by a Prefect worker gets them from its deployment's
# job variables and from the flow itself (``tfclaims.flows.consortium``).
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_TASKS_DEFAULT_NO_CACHE": "true",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}

# the ``stage`` attribute of a log record: what a console does with it (a spinner, then a line)
STARTED, ENDED = "started", "ended"


class Step(Protocol):
    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def describe(result: Any) -> str:
    """A step's result in counts, for its end line: an object's own ``stage_counts()`` (the first of a
    tuple's that has one), else a frame's rows; blank when there is nothing to count."""
    for r in result if isinstance(result, tuple) else (result,):
        counts = getattr(r, "stage_counts", None)
        if callable(counts):
            return str(counts())
    n = getattr(result, "shape", None)
    if isinstance(n, tuple) and len(n) == 2:
        return f"{n[0]:,} rows"
    return ""


def say(message: str, *args: Any) -> None:
    """A line about the run's progress, for the terminal and the run log (no personal data)."""
    LOG.info(message, *args)


def timed(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, reporting its start, and its end with its counts and seconds."""
    return_freed_memory()  # once per process: a worker's run as the command line's
    LOG.info("%s: started", name, extra={"stage": STARTED, "stage_name": name})
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    counts = describe(result)
    LOG.info("%s: done in %.1f s%s", name, seconds, f" ({counts})" if counts else "",
             extra={"stage": ENDED, "stage_name": name, "seconds": seconds, "counts": counts})
    return result


def direct(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the step as a plain function call (timed and reported)."""
    return timed(name, fn, *args, **kwargs)


def use_prefect() -> bool:
    return os.environ.get(ORCHESTRATOR_ENV, "prefect").lower() != "none"
