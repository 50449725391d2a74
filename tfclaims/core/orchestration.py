"""How a pipeline's steps are run: directly (plain Python) or as Prefect tasks.

The domain pipelines in ``tfclaims.pipeline`` take a ``step`` callable and call every table-level
step through it: ``step("validate people", validate_table, ...)``. ``direct`` just calls the
function; ``flows/`` passes a step that runs it as a Prefect task. So the same code runs with and
without Prefect, and tests and benchmarks measure the stages without Prefect's start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

ORCHESTRATOR_ENV = "TFCLAIMS_ORCHESTRATOR"  # "prefect" (default) or "none"


class Step(Protocol):
    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def direct(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the step as a plain function call."""
    return fn(*args, **kwargs)


def use_prefect() -> bool:
    return os.environ.get(ORCHESTRATOR_ENV, "prefect").lower() != "none"
