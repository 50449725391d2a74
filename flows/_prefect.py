"""The Prefect side of ``tfclaims.core.orchestration``: steps as Prefect tasks, the run's log lines
in Prefect's run log, and its artifacts.

A command runs as one flow run named by its tfclaims run id (``run_command``); each table-level
step is a task named by stage and table. What reaches Prefect's database is what the UI shows: flow
parameters (paths, dates and options, never a frame), log lines (stage names, counts, seconds,
paths) and artifacts (``tfclaims.artifacts``: counts, money, reasons in words, pseudonymous
claim references). Task inputs are never hashed or persisted, and no result is persisted either.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tfclaims.artifacts import RunArtifacts
from tfclaims.core.orchestration import LOG, Step, timed

T = TypeVar("T")

__all__ = ["prefect_step", "run_log", "publish", "run_command", "as_flow"]


def prefect_step(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` as one Prefect task named ``name`` (table granularity), timed and reported in the
    task's log. Inputs are never hashed or persisted, and neither is the result (it stays in memory:
    frames of personal data never reach Prefect's result storage)."""

    @wraps(fn)  # the task's parameters are fn's (Prefect binds the call to its signature)
    def call(*a: Any, **kw: Any) -> Any:
        return timed(name, fn, *a, **kw)

    return task(call, name=name, cache_policy=NO_CACHE, persist_result=False, log_prints=False)(*args, **kwargs)


@contextmanager
def run_log() -> Iterator[None]:
    """The ``tfclaims`` log lines of this flow run (and of its tasks) in Prefect's run log too."""
    from prefect.logging.handlers import APILogHandler

    handler = APILogHandler()
    LOG.addHandler(handler)
    level = LOG.level
    if LOG.getEffectiveLevel() > logging.INFO:  # a run started by `tfclaims serve`, not by the command line
        LOG.setLevel(logging.INFO)
    try:
        yield
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(level)


def publish(artifacts: RunArtifacts | None) -> None:
    """Create the run's artifacts (markdown summary, tables, links) under their stable keys."""
    if artifacts is None:
        return
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    create_markdown_artifact(markdown=artifacts.markdown, key=artifacts.markdown_key, description="What this run did, in plain English")
    for key, (description, rows) in artifacts.tables.items():
        create_table_artifact(table=rows, key=key, description=description)
    for key, (description, link, text) in artifacts.links.items():
        create_link_artifact(link=link, link_text=text, key=key, description=description)


def run_command(work: Callable[[Step], T], artifacts: Callable[[T], RunArtifacts | None]) -> T:
    """The body of a command's flow: ``work(step)`` with every step a task and every log line in the
    run log, then the run's artifacts."""
    with run_log():
        result = work(prefect_step)
        publish(artifacts(result))
    return result


def as_flow(command: str, run_id: str, work: Callable[[Step], T], artifacts: Callable[[T], RunArtifacts | None]) -> T:
    """Run ``work`` as a flow of its own, with no parameters (for a command whose arguments may name a
    family: only the run id names the run)."""

    def body() -> T:
        return run_command(work, artifacts)

    body.__name__ = body.__qualname__ = f"tfclaims_{command.replace('-', '_').replace(' ', '_')}"
    name = f"tfclaims-{command.replace(' ', '-')}"
    return flow(body, name=name, flow_run_name=run_id, validate_parameters=False, persist_result=False)()
