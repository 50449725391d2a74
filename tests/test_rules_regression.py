"""Decision regression of the rules engine: identify, identify_at and track on real data paths
(the committed sample cohort and seeded synthetic cohorts, written to files, ingested and linked)
must give exactly the outputs stored under ``tests/data/rules_regression/``.

The stored files were produced by the engine *before* its speed work (commit 615ed05's rules); a
change that alters any eligibility, evidence row, outcome status or detail, or family fact fails
here. When a decision is meant to change, regenerate them deliberately and review the diff:

    .venv/bin/python tests/test_rules_regression.py --regenerate
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.core.cohort import Cohort
from tfclaims.rules.frameworks import load_framework
from tfclaims.rules.identify import clear_context_cache, identify, identify_at
from tfclaims.ingest.validate import ingest
from tfclaims.link.passes import link
from tfclaims.core.resources import DATA_DIR
from tfclaims.synth.generate import generate_cohort, write_cohort
from tfclaims.rules.track import track

EXPECTED_DIR = Path(__file__).parent / "data" / "rules_regression"
FAMILIES = 3000  # synthetic cohort size: large enough to hit every rule, small enough for ~2 MB of files

# the output tables compared, and the columns each is sorted by before comparing
SORT_KEYS: dict[str, list[str]] = {
    "eligibility": ["family_id"],
    "evidence": ["family_id", "headline", "source_table", "source_row", "indicator", "person_id", "event_date"],
    "eligibility_at_attachment": ["family_id"],
    "evidence_at_attachment": ["family_id", "headline", "source_table", "source_row", "indicator", "person_id", "event_date"],
    "outcomes": ["family_id", "headline"],
    "families": ["family_id"],
    "outcome_evidence": ["family_id", "headline", "source_table", "source_row", "indicator", "person_id", "event_date"],
    "attachment_evidence": ["family_id", "headline", "source_table", "source_row", "indicator", "person_id", "event_date"],
}


def _load(folder: Path | str) -> Cohort:
    return link(ingest(folder).cohort).cohort


def _synth(tmp: Path, seed: int, framework: str = "tf-phase2") -> Cohort:
    folder = tmp / f"synth-{framework}-{seed}"
    write_cohort(generate_cohort(FAMILIES, seed=seed, framework=framework), folder)
    return _load(folder)


# case name -> (cohort maker, framework, as-of dates)
CASES: dict[str, tuple[Callable[[Path], Cohort], str, tuple[str, ...]]] = {
    "sample": (lambda tmp: _load(DATA_DIR / "sample"), "tf-phase2", ("2020-03-31",)),
    "synth7": (lambda tmp: _synth(tmp, 7), "tf-phase2", ("2020-03-31", "2019-09-30")),
    "synth8_sf2022": (lambda tmp: _synth(tmp, 8, "sf-2022"), "sf-2022", ("2024-09-30",)),
}


def rules_outputs(cohort: Cohort, framework_name: str, as_of: str) -> dict[str, pd.DataFrame]:
    """Every decision table of identify (at A), identify_at (at attached_on) and track (at A), sorted."""
    fw = load_framework(framework_name)
    clear_context_cache()
    elig = identify(cohort, fw, as_of)
    outcomes = track(cohort, fw, as_of)
    prog = cohort["programme"]
    attached_on = prog.dropna(subset=["attached_on"]).set_index("family_id")["attached_on"]
    at_attachment = identify_at(cohort, fw, attached_on)
    tables = {
        "eligibility": elig.eligibility,
        "evidence": elig.evidence,
        "eligibility_at_attachment": at_attachment.eligibility,
        "evidence_at_attachment": at_attachment.evidence,
        "outcomes": outcomes.outcomes,
        "families": outcomes.families,
        "outcome_evidence": outcomes.evidence,
        "attachment_evidence": outcomes.attachment_evidence,
    }
    return {name: df.sort_values(SORT_KEYS[name], kind="stable", ignore_index=True) for name, df in tables.items()}


def _path(case: str, as_of: str, table: str) -> Path:
    return EXPECTED_DIR / f"{case}_{as_of}__{table}.parquet"


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cohort]:
    tmp = tmp_path_factory.mktemp("rules_regression")
    return {case: make(tmp) for case, (make, _, _) in CASES.items()}


@pytest.mark.parametrize("case, as_of", [(c, d) for c, (_, _, dates) in CASES.items() for d in dates])
def test_rules_decisions_unchanged(cohorts: dict[str, Cohort], case: str, as_of: str) -> None:
    _, framework_name, _ = CASES[case]
    got = rules_outputs(cohorts[case], framework_name, as_of)
    for table, frame in got.items():
        expected = pd.read_parquet(_path(case, as_of, table))
        assert len(expected) > 0, f"{case} {as_of} {table}: stored expectation is empty (regenerate?)"
        pd.testing.assert_frame_equal(frame, expected, check_exact=True, obj=f"{case} {as_of} {table}")


def test_regression_cases_exercise_every_status(cohorts: dict[str, Cohort]) -> None:
    """The stored cases are worth comparing: they hold eligible and ineligible families, every
    outcome status, both claim routes' facts and not-yet-closed sf-2022 families."""
    seen: set[str] = set()
    for case, (_, _, dates) in CASES.items():
        for d in dates:
            outcomes = pd.read_parquet(_path(case, d, "outcomes"))
            seen |= set(outcomes["status"])
    assert seen >= {"met", "not_met", "not_yet"}
    fams = pd.read_parquet(_path("synth7", "2020-03-31", "families"))
    assert fams["ssp"].any() and fams["continuous_employment"].any() and not fams["ssp"].all()
    elig = pd.read_parquet(_path("synth7", "2020-03-31", "eligibility"))
    assert elig["eligible"].any() and not elig["eligible"].all()


def regenerate() -> None:  # pragma: no cover - run by hand when a decision is meant to change
    import tempfile

    EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rules-regression-"))
    for case, (make, framework_name, dates) in CASES.items():
        cohort = make(tmp)
        for d in dates:
            for table, frame in rules_outputs(cohort, framework_name, d).items():
                frame.to_parquet(_path(case, d, table), compression="zstd", index=False)
    total = sum(p.stat().st_size for p in EXPECTED_DIR.glob("*.parquet"))
    print(f"wrote {len(list(EXPECTED_DIR.glob('*.parquet')))} files, {total / 1e6:.2f} MB, to {EXPECTED_DIR}")


if __name__ == "__main__" and "--regenerate" in sys.argv:
    regenerate()
