"""Eligibility: which headlines are present for each family at a date, and is the family eligible.

:func:`identify` judges every family in ``people`` at one date D; :func:`identify_at` judges each
family at its own date (the claim stage needs eligibility at each family's ``attached_on``). Both
run one vectorised pass over each table (family and person codes, numpy masks), never a loop
over families; presence of the headlines and the rules of eligibility are in
:mod:`tfclaims.rules.kernel`, shared with track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfclaims.schemas.rules import validate_output
from tfclaims.core.cohort import Cohort
from tfclaims.rules.frameworks import Framework
from tfclaims.rules.indicators import RulesContext
from tfclaims.rules.kernel import (
    EXCLUSION_HEADLINE,
    Presence,
    clear_context_cache,
    context,
    family_dates,
    family_strings,
    headline_strings,
    exclusion_words,
    materialise_evidence,
    needs_headline_index,
    not_evaluated,
    presence,
    presence_on,
)

__all__ = ["IdentifyResult", "clear_context_cache", "eligibility_frame", "exclusions_frame", "identify", "identify_at"]


@dataclass
class IdentifyResult:
    """Eligibility of each family, the evidence for it, and what could not be evaluated."""

    eligibility: pd.DataFrame
    evidence: pd.DataFrame
    not_evaluated: pd.DataFrame  # headline, indicator, missing_table
    not_evaluated_headlines: list[str] = field(default_factory=list)  # no source of the headline was supplied
    ignored_needs_rows: int = 0  # needs rows naming a headline outside this framework
    # families made not eligible by eligibility.exclude_when: family_id, as_of, reason (in words)
    exclusions: pd.DataFrame = field(default_factory=lambda: exclusions_frame(np.array([], dtype=object), np.array([], dtype="datetime64[ns]"), np.array([], dtype=object)))

    def stage_counts(self) -> str:
        return f"{len(self.eligibility):,} families, {len(self.evidence):,} evidence rows"


def exclusions_frame(family_id: object, as_of: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"family_id": pd.array(family_id, dtype="str"), "as_of": np.asarray(as_of, dtype="datetime64[ns]"),
                         "reason": pd.array(np.asarray(reason, dtype=object), dtype="str")})


def _ignored_needs(ctx: RulesContext, framework: Framework) -> int:
    h = needs_headline_index(ctx, framework)
    return 0 if h is None else int((h < 0).sum())


def eligibility_frame(ctx: RulesContext, framework: Framework, p: Presence, fams: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": family_strings(ctx, fams),
            "as_of": p.as_of[fams],
            "eligible": p.eligible[fams].astype(bool),
            "headline_count": p.headline_count[fams].astype("int64"),
            "headlines": headline_strings(framework, p.headline_mask[fams]),
            "has_dependent": p.has_dependent[fams].astype(bool),
        }
    )


def _result(ctx: RulesContext, framework: Framework, p: Presence, fams: np.ndarray) -> IdentifyResult:
    elig = eligibility_frame(ctx, framework, p, fams)
    elig = elig.sort_values("family_id", kind="stable", ignore_index=True)
    keep = np.zeros(ctx.n_families, dtype=bool)
    keep[fams] = True
    ev = p.evidence[keep[p.evidence["fam"].to_numpy(dtype="int64")]] if len(p.evidence) else p.evidence
    headlines = framework.headline_codes
    exclusions = None
    if p.exclusions is not None:
        # the exclusions' evidence rows, under the headline "exclude_when", named by their entries
        xev = p.exclusions.evidence
        xev = xev[keep[xev["fam"].to_numpy(dtype="int64")]].drop(columns="x").assign(h=len(headlines))
        ev = pd.concat([ev, xev], ignore_index=True)
        headlines = (*headlines, EXCLUSION_HEADLINE)
        reason = exclusion_words(ctx, framework, p, fams)
        hit = reason != ""
        exclusions = exclusions_frame(family_strings(ctx, fams[hit]), p.as_of[fams[hit]], reason[hit])
        exclusions = exclusions.sort_values("family_id", kind="stable", ignore_index=True)
    evidence = materialise_evidence(ctx, ev, headlines)
    ne, whole = not_evaluated(ctx, framework)
    result = IdentifyResult(
        eligibility=validate_output(elig, "eligibility"),
        evidence=validate_output(evidence, "eligibility_evidence"),
        not_evaluated=ne,
        not_evaluated_headlines=whole,
        ignored_needs_rows=_ignored_needs(ctx, framework),
    )
    if exclusions is not None:
        result.exclusions = exclusions
    return result


def identify(cohort: Cohort | RulesContext, framework: Framework, as_of: object) -> IdentifyResult:
    """Eligibility of every family in ``people`` at ``as_of``."""
    ctx = context(cohort)
    d = np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns")
    fams = ctx.families.get_indexer(ctx.people_families)
    return _result(ctx, framework, presence_on(ctx, framework, d), np.sort(fams))


def identify_at(cohort: Cohort | RulesContext, framework: Framework, dates: pd.Series) -> IdentifyResult:
    """Eligibility of each family at its own date: ``dates`` maps family_id -> date (e.g. attached_on).

    One vectorised pass whatever the number of distinct dates; a family with a missing date is
    reported not eligible."""
    ctx = context(cohort)
    arr, fams = family_dates(ctx, dates)
    return _result(ctx, framework, presence(ctx, framework, arr), fams)
