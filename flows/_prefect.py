"""The Prefect side of ``tfclaims.core.orchestration``: a step that runs a function as a Prefect task."""

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE


def prefect_step(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` as one Prefect task named ``name`` (table granularity; inputs never hashed or persisted)."""
    return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False, log_prints=False)(*args, **kwargs)
