"""pandera models of the rules engine's outputs: eligibility, eligibility_evidence, outcomes and the
per-family tracking summary the claim stage reads. ``strict=True`` and ``ordered=True``: a column
too many, too few or out of order is a bug. :func:`validate_output` raises
:class:`tfclaims.core.errors.OutputValidationError` naming the table and the failed check.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tfclaims.core.errors import OutputValidationError

STATUSES: tuple[str, ...] = ("met", "not_met", "not_yet", "not_evaluated")
Int = pd.Int64Dtype


class Eligibility(pa.DataFrameModel):
    """eligibility.csv: one row per family in ``people``."""

    family_id: Series[str] = pa.Field(unique=True)
    as_of: Series[pd.Timestamp] = pa.Field(nullable=True)
    eligible: Series[bool]
    headline_count: Series[int] = pa.Field(ge=0)
    headlines: Series[str]
    has_dependent: Series[bool]

    class Config:
        strict = True
        ordered = True
        name = "eligibility"


class EligibilityEvidence(pa.DataFrameModel):
    """eligibility_evidence.csv (and the outcome evidence): one row per piece of evidence."""

    family_id: Series[str]
    headline: Series[str]
    person_id: Series[str] = pa.Field(nullable=True)
    indicator: Series[str]
    source_table: Series[str]
    source_file: Series[str] = pa.Field(nullable=True)
    source_row: Series[Int] = pa.Field(nullable=True)
    event_date: Series[pd.Timestamp] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
        name = "eligibility_evidence"


class OutcomeEvidence(EligibilityEvidence):
    class Config:
        strict = True
        ordered = True
        name = "outcome_evidence"


class Outcomes(pa.DataFrameModel):
    """outcomes.csv: one row per attached family and required headline."""

    family_id: Series[str]
    as_of: Series[pd.Timestamp]
    headline: Series[str]
    status: Series[str] = pa.Field(isin=list(STATUSES))
    detail: Series[str]

    class Config:
        strict = True
        ordered = True
        unique = ["family_id", "headline"]
        name = "outcomes"


# Column names of these tables, in order, for modules that read or build them.
EVIDENCE_COLUMNS: tuple[str, ...] = tuple(EligibilityEvidence.to_schema().columns)
OUTCOME_COLUMNS: tuple[str, ...] = tuple(Outcomes.to_schema().columns)


class FamilySummary(pa.DataFrameModel):
    """One row per attached family: every fact the claim decision order needs."""

    family_id: Series[str] = pa.Field(unique=True)
    as_of: Series[pd.Timestamp]
    attached_on: Series[pd.Timestamp]
    closed_on: Series[pd.Timestamp] = pa.Field(nullable=True)
    within_programme_period: Series[bool]
    transition_manual_review: Series[bool]
    eligible_at_attachment: Series[bool]
    headline_count_at_attachment: Series[int] = pa.Field(ge=0)
    headlines_at_attachment: Series[str]
    required_headlines: Series[str]
    whole_family_working: Series[bool]
    whole_family_working_detail: Series[str]
    ssp: Series[bool]
    continuous_employment: Series[bool]
    continuous_employment_detail: Series[str]
    sfo: Series[bool]
    unmet: Series[str]
    not_evaluated: Series[str]
    has_discretion_note: Series[bool]

    class Config:
        strict = True
        ordered = True
        name = "family_summary"


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "eligibility": Eligibility,
    "eligibility_evidence": EligibilityEvidence,
    "outcome_evidence": OutcomeEvidence,
    "outcomes": Outcomes,
    "family_summary": FamilySummary,
}


def validate_output(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate an output table against its model; OutputValidationError names table and check."""
    model = MODELS[table]
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        first = fc.iloc[0]
        checks = "; ".join(
            f"{c if isinstance(c, str) else '(table)'}: {k}" for c, k in fc[["column", "check"]].drop_duplicates().head(5).itertuples(index=False)
        )
        raise OutputValidationError(f"output table {table!r} failed its schema: {checks} (e.g. value {first['failure_case']!r})") from exc
    except pa.errors.SchemaError as exc:  # pragma: no cover - lazy=True collects, but be safe
        raise OutputValidationError(f"output table {table!r} failed its schema: {exc}") from exc
