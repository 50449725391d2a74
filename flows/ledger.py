"""Prefect flows: people's decisions on the claims ledger (``tfclaims ledger withdraw|release|approve|seal|export``).

Each action is a flow run of its own, named by the action's run id (the id of its audit record),
with no flow parameters: its arguments may name a family, and the Prefect database keeps
parameters in clear. The ledger write is a task; the artifact says what was done without the family.
"""

from collections.abc import Callable

from tfclaims.artifacts import ledger_artifacts
from tfclaims.core.orchestration import Step
from tfclaims.flows._prefect import as_flow

Said = tuple[list[str], list[str]]  # (lines for the terminal, lines for the artifact: no family id)


def ledger_flow(command: str, run_id: str, work: Callable[[Step], Said]) -> Said:
    return as_flow(command, run_id, work, lambda said: ledger_artifacts(command, run_id, said[1]))
