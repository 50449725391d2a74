"""The claim decision of every family in the programme register at one period end: the rules
engine as ``tfclaims claim`` runs it (track, eligibility at attachment, decide), in one place.

``tfclaims claim`` calls :func:`evaluate_claims` once; ``tfclaims forecast`` calls it at each month
end of its horizon, on the cohort as held at the as-of date, and ``tfclaims compare-plans`` under
each plan. No rule is written twice: what the forecast says a claim run would decide is what the
claim run decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tfclaims.claim.decide import LedgerState, decide
from tfclaims.claim.register import allocation_in_force, claim_rules, eligibility_detail
from tfclaims.core.cohort import Cohort
from tfclaims.core.errors import InputError
from tfclaims.core.orchestration import Step, direct
from tfclaims.rules.frameworks import Framework

__all__ = ["ClaimEvaluation", "evaluate_claims", "attachment_eligibility"]


@dataclass
class ClaimEvaluation:
    """What the engine decided at one period end."""

    period_end: dt.date
    framework: Framework  # the framework's values in force at the period end
    tracked: Any  # tfclaims.rules.track.TrackResult
    at_attachment: Any  # tfclaims.rules.identify.IdentifyResult (eligibility at each family's attached_on)
    families: pd.DataFrame  # the tracking summary with eligibility_detail
    decisions: pd.DataFrame  # tfclaims.claim.decide.decide's frame
    allocation: int | None
    state: LedgerState


def programme_of(cohort: Cohort) -> pd.DataFrame:
    programme = cohort.get("programme")
    if programme is None:
        raise InputError("the cohort has no 'programme' table: a claim needs the register of families worked with")
    return programme


def attachment_eligibility(cohort: Cohort, fw: Framework, step: Step = direct) -> Any:
    """Eligibility of each family in the programme register at its own attached_on (it does not
    depend on the period end: a forecast computes it once)."""
    from tfclaims.rules.identify import identify_at

    programme = programme_of(cohort)
    return step("identify at attachment", identify_at, cohort, fw, programme.set_index("family_id")["attached_on"])


def evaluate_claims(cohort: Cohort, fw: Framework, period_end: dt.date, *, state: LedgerState | Callable[[], LedgerState],
                    allocation: int | None = None, council_allocation: int | None = None, step: Step = direct,
                    at_attachment: Any = None, evidence: bool = True,
                    on_tracked: Callable[[Any, Any], None] | None = None) -> ClaimEvaluation:
    """Track at ``period_end``, eligibility at attachment (unless given), then the claim decision
    against the ledger's ``state`` (or a function that reads it) and the allocation in force
    (``allocation``: the command's ``--allocation``; ``council_allocation``: the council config's).
    ``evidence=False``: the tracking evidence tables are not built (no decision reads them);
    ``on_tracked(tracked, at_attachment)`` is called before the decision (the claim run starts
    writing the tracking outputs then)."""
    from tfclaims.rules.track import track as track_families

    programme = programme_of(cohort)
    A = period_end
    tracked = step("track", track_families, cohort, fw, A, evidence=evidence)
    if at_attachment is None:
        at_attachment = attachment_eligibility(cohort, fw, step)
    if on_tracked is not None:  # e.g. the claim run starts writing the tracking outputs while it decides
        on_tracked(tracked, at_attachment)
    families = tracked.families.copy()
    families["eligibility_detail"] = eligibility_detail(families, at_attachment.eligibility, fw, at_attachment.exclusions)
    if callable(state):
        state = state()
    fw_a = fw.at(A)  # programme dates, amounts and the allocation: the values in force at the period end
    in_force = allocation_in_force(allocation, council_allocation, fw_a)
    decisions = step("decide claims", decide, programme, families, rules=claim_rules(fw_a), period_end=A, ledger=state,
                     allocation=in_force)
    return ClaimEvaluation(A, fw_a, tracked, at_attachment, families, decisions, in_force, state)
