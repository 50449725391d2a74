"""Seeded synthetic cohorts: all 13 contract tables, realistic households and histories, optional bad rows.

``generate_cohort(families, seed, framework, period_end, error_rate)`` builds a :class:`SynthCohort`
(every table as text cells exactly as they will be written, plus a manifest of injected errors and
the planned scenario of each family); ``write_cohort(cohort, out_dir, xlsx=False)`` writes it as
``DIR/<table>.csv`` files or one ``DIR/cohort.xlsx`` workbook, with ``DIR/synth/manifest.csv``,
``DIR/synth/scenarios.csv`` and ``DIR/synth/README.md``. Same seed and arguments give byte-identical
files: all randomness comes from ``numpy.random.default_rng(seed)`` (spawned into one stream per
part), nothing reads the clock, and name pools come from ``data/reference/synth_names.yaml``.
Everything is vectorised over families, people and events (no Python loop per row).

The mix (defaults; D = period end, H = D + 12 months, the end of every history)
-------------------------------------------------------------------------------
Households (``--families`` counts families; about 3.3 people per family, so 1M people ~ 300k families):
  * 58% lone parent + 1-5 children, 30% two parents + 1-5 children (children 0-17 at D, mostly 1-2);
  * 5% expectant parents (1 or 2 ``expectant_parent`` members aged 16-38) and no children;
  * 7% adults only (a ``parent`` and an ``other_adult``, no dependent: never eligible);
  * 8% of child households also have an ``other_adult`` (grandparent or adult sibling);
  * 30% of lone-parent and 10% of expectant households have a ``non_resident_parent`` living at a
    postcode in another area.
  Names from the pools (family surname shared by most members); a household shares a postcode
  (``NG`` districts; about 2% of people rows carry it lower case without the space, which is valid)
  and an address; UPNs (valid check letter) for every child of school age in the window, NHS numbers
  (``9xx`` range, valid modulus 11) for ~92%, NI numbers for ~95% of people aged 16+. A few clean
  rows carry nasty-but-valid text: surnames ``NA`` / ``None`` / ``Null`` / ``NULL`` / ``nan``, first
  names ``-Ann`` / ``=Rose`` / ``+Jo`` / ``@Kim`` (data, never formulas).

Problems (latent; each shows in the tables as data): crime, education, social_care, worklessness,
domestic_abuse, mental_health, substance, housing. A family has 0-5 of them (10% none, 20% one,
70% two or more), each with an active interval that starts 1-30 months before the family's reference
date R (its attachment, or a date in the year before D for families not attached) and at least one
event in the year to R. Each problem has a subject member (crime: an adult or a child 10+; education
and social care: a child; worklessness, domestic abuse, health: an adult); when the household has a
non-resident parent, 35% of the adult problems sit with them (non-resident-parent-only headlines).

Programme: about half the families are attached (62% of those with 2+ problems, 20% of the rest),
``attached_on`` spread over D-27 months .. D+4 months (so some attach after D: ``not_attached``;
under sf-2022 some attach before 2022-10-03: ``transition_manual_review``). Lead practitioner 93%,
whole-family assessment 90% (within 6 weeks), action plan 88% of those (within 4 weeks); 55% of
those attached 3+ months before H are closed 3-15 months after attachment; 6% carry a
``discretion_note``. Trajectories of attached families:
  * ``resolved`` (55%): every problem stops within 3 months of attachment (education within 2), needs
    rows recorded ``met`` 3 weeks-4 months later: outcomes met once the sustain windows have run,
    ``not_yet`` before that;
  * ``persisting`` (20%): most problems carry on to H: ``not_met``, needs rows ``open`` or ``not_met``;
  * ``relapse`` (25%): resolved, then one new offence / ASB / domestic-abuse incident / health record /
    out-of-work spell 7-16 months after attachment: a new incident in the sustain window;
  * worklessness subjects of attached families get a job 3 weeks-8 months after attachment (50%),
    their out-of-work spell ending 1-21 days before it: jobs lasting 13 / 26 weeks give
    continuous-employment claims; 10% of jobs are broken by a new out-of-work spell.
Families not attached: problems active around D (eligible or not by their count and dependents).
Measured with the rules engine (tfclaims.rules.identify / track) on the committed sample (200 families,
seed 42, tf-phase2, D = 2020-03-31): 85 eligible at D, 84 attached by D, 16 claimable (12 by
significant and sustained progress, 4 by continuous employment only); sf-2022 at 2024-09-30 with the
same seed: 5 successful family outcomes claimable.

Scale: 1,002,534 people (300,000 families, 7.8M rows, 348 MB of CSV) in 43 s wall, 2.9 GB peak RSS.

Every table has events: attendance per term (autumn/spring/summer, the 36 months to D and the year
after) for every school-age child, absence 0-10% normally and 11-40% in terms of an education
problem; suspensions / permanent exclusions; proven, not-proven and pending offences; ASB incidents;
early help / CIN / CP / LAC episodes; out-of-work (JSA, UC_SEARCHING, ESA, IS, ...) and other
benefit spells; employment; domestic abuse (victim, perpetrator, child in household); health records
(incl. maternity for expectant parents); housing records (by family or person); needs rows
(``open`` / ``met`` / ``not_met`` / ``withdrawn``, headline codes of the framework in use, ``need_code``
left blank); background noise events for people without problems. Event rows refer to people by
``person_id``: each event table is built with a ``person_idx`` column (position in ``people``)
and turned into contract columns by :func:`person_reference`. About 5% of valid date cells
in CSV are written UK day-first (``31/03/2024``); in xlsx those stay text and all other valid dates
are real date cells.

Errors (``error_rate`` > 0): about ``error_rate`` x all rows, split evenly over the classes of
:data:`ERROR_CLASSES`, at least one of each (when the cohort has a row it can go in: tiny cohorts may
lack, say, attendance), each row given at most one error; every one is listed in the manifest with the
row number a person sees (header = row 1) and the column and value a validator reports (the column
names follow ``schemas.inputs.CHECK_COLUMNS`` for row-level checks). For a duplicate key every row
sharing the key (original and copy) is listed, since each of them is a duplicate.

Unlinked rows (``unlinked_rate`` > 0, ``tfclaims synth --unlinked RATE``): after the errors, about
that share of the other event rows lose their ``person_id`` and carry what a school census or police
extract would (:func:`unlink_rows`, built on ``tfclaims.synth.unlinked.make_unlinked``): the person's UPN,
NHS or NI number (sometimes two), or first name + last name + date of birth (+ postcode 60% of the
time) with transposed letters, nicknames, upper case, lost accents, day/month swapped, a mistyped
day, postcode variants and postcodes from before a move. The identity columns (``upn, nhs_number,
ni_number, first_name, last_name, date_of_birth, postcode``) follow ``person_id`` in those tables.
``DIR/synth/link_truth.csv`` (``table, file, sheet, row, person_id, mode``) names the true person of
every such row. Measured (150 families, seeds 7-9, rate 0.3, ingest then tfclaims.link.passes with the
shipped model): ~910 unlinked rows each, precision 1.0, recall 0.987-0.995. With no unlinked rate
(the default) nothing changes: the same seed gives the same bytes as before the option existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfclaims.core.cohort import EVENT_TABLES as CONTRACT_EVENT_TABLES
from tfclaims.core.cohort import TABLES as CONTRACT_TABLES
from tfclaims.schemas.inputs import LOCAL_TABLES, NATIONAL_TABLES
from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import UPN_LETTERS
from tfclaims.core.resources import REFERENCE_DIR, safe_yaml
from tfclaims.core.write import atomic_path, atomic_write
from tfclaims.core.local_codes import DeclaredCodes

# The tables generated always (default output); the local ones only with ``local_codes``.
NATIONAL_EVENT_TABLES: tuple[str, ...] = tuple(t for t in CONTRACT_EVENT_TABLES if t not in LOCAL_TABLES)

# ---------------------------------------------------------------------------------------------
# Contract shape


@dataclass(frozen=True)
class ProgrammeDates:
    start: dt.date
    end: dt.date
    default_period_end: dt.date


FRAMEWORKS: dict[str, ProgrammeDates] = {
    "tf-phase2": ProgrammeDates(dt.date(2015, 4, 1), dt.date(2022, 3, 31), dt.date(2020, 3, 31)),
    "sf-2022": ProgrammeDates(dt.date(2022, 10, 3), dt.date(2025, 3, 31), dt.date(2024, 9, 30)),
}

CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "people": ("person_id", "family_id", "first_name", "last_name", "date_of_birth", "sex", "relationship",
               "postcode", "address_line_1", "upn", "nhs_number", "ni_number"),
    "school_attendance": ("person_id", "academic_year", "term", "sessions_possible",
                          "sessions_authorised_absence", "sessions_unauthorised_absence"),
    "exclusions": ("person_id", "start_date", "exclusion_type", "sessions"),
    "offences": ("person_id", "offence_date", "outcome", "offence_type"),
    "asb_incidents": ("person_id", "incident_date", "asb_type"),
    "social_care": ("person_id", "episode_type", "start_date", "end_date"),
    "benefits": ("person_id", "benefit_type", "start_date", "end_date"),
    "employment": ("person_id", "start_date", "end_date", "hours_per_week"),
    "domestic_abuse": ("person_id", "incident_date", "role", "source"),
    "health": ("person_id", "recorded_on", "issue"),
    "housing": ("family_id", "person_id", "recorded_on", "issue", "resolved_on"),
    "needs": ("family_id", "person_id", "headline", "need_code", "identified_on", "outcome", "outcome_on",
              "evidence_ref"),
    "programme": ("family_id", "attached_on", "lead_practitioner", "whole_family_assessment_on", "action_plan_on",
                  "closed_on", "closure_reason", "discretion_note"),
}

DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "people": ("date_of_birth",),
    "school_attendance": (),
    "exclusions": ("start_date",),
    "offences": ("offence_date",),
    "asb_incidents": ("incident_date",),
    "social_care": ("start_date", "end_date"),
    "benefits": ("start_date", "end_date"),
    "employment": ("start_date", "end_date"),
    "domestic_abuse": ("incident_date",),
    "health": ("recorded_on",),
    "housing": ("recorded_on", "resolved_on"),
    "needs": ("identified_on", "outcome_on"),
    "programme": ("attached_on", "whole_family_assessment_on", "action_plan_on", "closed_on"),
}
INTEGER_COLUMNS: dict[str, tuple[str, ...]] = {
    "school_attendance": ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"),
    "exclusions": ("sessions",),
}
NUMBER_COLUMNS: dict[str, tuple[str, ...]] = {"employment": ("hours_per_week",)}

MANIFEST_COLUMNS: tuple[str, ...] = ("table", "file", "sheet", "row", "column", "error_class", "value")
LINK_TRUTH_COLUMNS: tuple[str, ...] = ("table", "file", "sheet", "row", "person_id", "mode")
LINK_TRUTH_FILE = "link_truth.csv"
XLSX_NAME = "cohort.xlsx"
SYNTH_SUBDIR = "synth"
EXCEL_MAX_ROWS = 1_048_576

ERROR_CLASSES: tuple[str, ...] = (
    "unparseable_date",
    "us_format_date",
    "date_out_of_range",
    "future_date_of_birth",
    "unknown_code",
    "negative_count",
    "absence_exceeds_possible",
    "end_before_start",
    "bad_postcode",
    "bad_upn_check_letter",
    "bad_nhs_check_digit",
    "bad_ni_format",
    "duplicate_key",
    "missing_required_value",
    "non_integer",
    "bad_academic_year",
    "no_person_reference",
)

PROBLEMS: tuple[str, ...] = ("crime", "education", "social_care", "worklessness", "domestic_abuse",
                             "mental_health", "substance", "housing")
_K = {name: i for i, name in enumerate(PROBLEMS)}

# The headline a practitioner records for each latent problem, per framework (None: not a headline there).
PROBLEM_HEADLINES: dict[str, dict[str, str | None]] = {
    "tf-phase2": {"crime": "crime_asb", "education": "education", "social_care": "children_need_help",
                  "worklessness": "worklessness", "domestic_abuse": "domestic_abuse", "mental_health": "health",
                  "substance": "health", "housing": None},
    "sf-2022": {"crime": "crime", "education": "education", "social_care": "child_safety",
                "worklessness": "financial_stability", "domestic_abuse": "domestic_abuse", "mental_health": "health",
                "substance": "substance_use", "housing": "housing"},
}
NEEDS_ONLY_HEADLINES: dict[str, tuple[str, ...]] = {
    "tf-phase2": (),
    "sf-2022": ("early_years", "family_relationships"),
}

RELATIONSHIPS = np.array(["parent", "child", "other_adult", "non_resident_parent", "expectant_parent"])
PARENT, CHILD, OTHER_ADULT, NRP, EXPECTANT = range(5)
STRUCTURES = np.array(["lone_parent", "two_parents", "expectant_only", "adults_only"])
TRAJECTORIES = np.array(["not_attached", "resolved", "persisting", "relapse"])

NO_DAY = np.iinfo(np.int64).min  # a missing date in day-number arrays
_EPOCH = dt.date(1970, 1, 1)


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass
class SynthCohort:
    """A generated cohort.

    ``tables``: contract table -> DataFrame of the contract's columns, every cell the exact text that
    is written (``str`` dtype, missing = NaN; dates ISO or UK day-first; injected bad values as they are).
    ``manifest``: one row per injected error (``table, row, column, error_class, value``; ``file`` and
    ``sheet`` are filled in by :func:`write_cohort`). ``scenarios``: the plan of each family (structure,
    attached, trajectory, problems) — what the generator intended, not a rules-engine result.
    ``link_truth`` (only with an unlinked rate): the true ``person_id`` of every event row that refers
    to its person by identifiers only (``table, row, person_id, mode``; ``file`` and ``sheet`` are
    filled in by :func:`write_cohort`).
    """

    tables: dict[str, pd.DataFrame]
    manifest: pd.DataFrame
    scenarios: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    link_truth: pd.DataFrame | None = None  # LINK_TRUTH_COLUMNS, one row per unlinked event row; None: none made


def generate_cohort(
    families: int,
    seed: int,
    framework: str = "tf-phase2",
    period_end: dt.date | None = None,
    error_rate: float = 0.0,
    unlinked_rate: float = 0.0,
    local_codes: DeclaredCodes | None = None,
) -> SynthCohort:
    """A seeded synthetic cohort of ``families`` households (see the module docstring for the mix).

    ``unlinked_rate`` > 0: that share of the clean event rows refer to their person by identifiers
    only (no ``person_id``), with realistic typos; ``link_truth`` says who each of them is.
    ``local_codes``: also the local tables (:func:`local_tables`), clean, coded with the plan's codes;
    without them the cohort is exactly what it was (the local tables take a stream of their own).
    """
    if framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    if families < 1:
        raise InputError("--families must be at least 1")
    if not 0.0 <= error_rate < 0.5:
        raise InputError("--errors must be a rate between 0 and 0.5")
    if not 0.0 <= unlinked_rate <= 1.0:
        raise InputError("--unlinked must be a rate between 0 and 1")
    dates = FRAMEWORKS[framework]
    period_end = period_end or dates.default_period_end
    streams = np.random.default_rng(seed).spawn(8)
    pools = name_pools()
    ctx = _Context(framework=framework, programme=dates, D=_day(period_end), H=_day(period_end) + 365)

    plan = _plan_families(streams[0], families, ctx)
    people = _build_people(streams[1], plan, ctx)
    _plan_problems(streams[2], plan, people, ctx)
    events = _build_events(streams[3], plan, people, ctx)
    programme = _build_programme(streams[4], plan, ctx, pools)
    needs = _build_needs(streams[5], plan, people, ctx)

    text_rng = streams[6]
    tables: dict[str, pd.DataFrame] = {"people": _people_text(text_rng, people, plan, ctx, pools)}
    for name in NATIONAL_EVENT_TABLES:
        tables[name] = _event_text(text_rng, name, person_reference(events[name], tables["people"], plan.family_ids))
    tables["needs"] = _event_text(text_rng, "needs", person_reference(needs, tables["people"], plan.family_ids))
    tables["programme"] = _event_text(text_rng, "programme", programme)
    tables = {name: tables[name] for name in NATIONAL_TABLES}

    manifest = _empty_manifest()
    clean_people = tables["people"]
    if error_rate > 0:
        tables, manifest = _inject_errors(streams[7], tables, error_rate)
    link_truth = None
    if unlinked_rate > 0:
        # a stream of its own (spawned after the eight above, which it leaves as they were)
        unlink_seed = int(np.random.default_rng(seed).spawn(9)[8].integers(2**63))
        tables, link_truth = unlink_rows(tables, clean_people, manifest, unlinked_rate, unlink_seed)
    params = {"families": families, "seed": seed, "framework": framework, "period_end": period_end.isoformat(),
              "error_rate": error_rate, "unlinked_rate": unlinked_rate}
    if local_codes is not None and local_codes.declared:
        local_rng = np.random.default_rng(np.random.default_rng(seed).spawn(10)[9])
        tables = {**tables, **local_tables(local_rng, clean_people, local_codes, period_end)}
        params["local_codes"] = local_codes.plan
    return SynthCohort(tables=tables, manifest=manifest, scenarios=_scenarios(plan, people), params=params,
                       link_truth=link_truth)


# The share of people with local events, and with a local spell; of local events, the share that
# name the household (family_id) instead of the person.
LOCAL_EVENT_SHARE, LOCAL_SPELL_SHARE, HOUSEHOLD_EVENT_SHARE = 0.15, 0.08, 0.2


def local_tables(rng: np.random.Generator, people: pd.DataFrame, codes: DeclaredCodes, period_end: dt.date) -> dict[str, pd.DataFrame]:
    """``local_events`` and ``local_spells`` as a council's own systems would send them (text cells).

    A share of people (:data:`LOCAL_EVENT_SHARE`) have 1-3 events, some (:data:`HOUSEHOLD_EVENT_SHARE`)
    of the household; a share (:data:`LOCAL_SPELL_SHARE`) a spell, open in a third of cases. Codes are
    the plan's, chosen uniformly; dates fall in the three years to ``period_end``.
    """
    out: dict[str, pd.DataFrame] = {}
    end, n = _day(period_end), len(people)
    ids, fams = people["person_id"].to_numpy(dtype=object), people["family_id"].to_numpy(dtype=object)

    def iso(days: np.ndarray) -> np.ndarray:
        return (np.datetime64(_EPOCH.isoformat()) + days.astype("timedelta64[D]")).astype(str)

    event_codes = codes.for_table("local_events")
    if event_codes:
        who = np.flatnonzero(rng.random(n) < LOCAL_EVENT_SHARE)
        who = np.repeat(who, rng.integers(1, 4, len(who)))
        household = rng.random(len(who)) < HOUSEHOLD_EVENT_SHARE
        value = np.where(rng.random(len(who)) < 0.5, rng.integers(1, 6, len(who)).astype(str), None)
        out["local_events"] = pd.DataFrame({
            "person_id": np.where(household, None, ids[who]),
            "family_id": np.where(household, fams[who], None),
            "event_date": iso(end - rng.integers(0, 3 * 365, len(who))),
            "source": "Example Council early help system",
            "code": np.asarray(event_codes, dtype=object)[rng.integers(0, len(event_codes), len(who))],
            "value": value,
        }).astype("str")
    spell_codes = codes.for_table("local_spells")
    if spell_codes:
        who = np.flatnonzero(rng.random(n) < LOCAL_SPELL_SHARE)
        start = end - rng.integers(60, 3 * 365, len(who))
        stop = start + rng.integers(30, 365, len(who))
        out["local_spells"] = pd.DataFrame({
            "person_id": ids[who],
            "code": np.asarray(spell_codes, dtype=object)[rng.integers(0, len(spell_codes), len(who))],
            "start_date": iso(start),
            "end_date": np.where((rng.random(len(who)) < 1 / 3) | (stop > end), None, iso(np.minimum(stop, end))),
            "source": "Example Council 16-18 tracking",
        }).astype("str")
    return out


def write_cohort(cohort: SynthCohort, out_dir: Path | str, xlsx: bool = False) -> dict[str, Path]:
    """Write the cohort (CSV files or one workbook) plus ``synth/manifest.csv``, ``scenarios.csv``, ``README.md``.

    Cohort files are written verbatim (no formula neutralisation: this is input-side data, and values
    such as ``-Ann`` must reach the reader as they are), atomically through ``tfclaims.core.write``. Files of
    the other format left in ``out_dir`` by an earlier run (``<table>.csv`` or ``cohort.xlsx``) are
    removed so the folder holds one cohort.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    manifest = cohort.manifest.copy()
    if xlsx:
        too_big = [t for t, df in cohort.tables.items() if len(df) + 1 > EXCEL_MAX_ROWS]
        if too_big:
            raise InputError(f"too many rows for one xlsx sheet in {', '.join(too_big)}; write CSV instead")
        written["cohort"] = _write_xlsx(cohort.tables, out_dir / XLSX_NAME)
        for t in CONTRACT_TABLES:
            (out_dir / f"{t}.csv").unlink(missing_ok=True)
        manifest["file"] = XLSX_NAME
        manifest["sheet"] = manifest["table"]
    else:
        for t, df in cohort.tables.items():
            written[t] = _write_text_csv(df, out_dir / f"{t}.csv")
        for t in set(LOCAL_TABLES) - set(cohort.tables):  # local tables of an earlier run: not of this cohort
            (out_dir / f"{t}.csv").unlink(missing_ok=True)
        (out_dir / XLSX_NAME).unlink(missing_ok=True)
        manifest["file"] = manifest["table"] + ".csv"
        manifest["sheet"] = pd.Series(pd.NA, index=manifest.index, dtype="str")
    manifest = manifest[list(MANIFEST_COLUMNS)]
    meta = out_dir / SYNTH_SUBDIR
    written["manifest"] = _write_text_csv(manifest.astype({"row": "str"}), meta / "manifest.csv")
    written["scenarios"] = _write_text_csv(cohort.scenarios, meta / "scenarios.csv")
    if cohort.link_truth is not None:
        truth = cohort.link_truth.copy()
        truth["file"] = XLSX_NAME if xlsx else truth["table"] + ".csv"
        truth["sheet"] = truth["table"] if xlsx else pd.Series(pd.NA, index=truth.index, dtype="str")
        truth = truth[list(LINK_TRUTH_COLUMNS)].astype({"row": "str"})
        written["link_truth"] = _write_text_csv(truth, meta / LINK_TRUTH_FILE)
    else:  # a truth file left by an earlier run would describe rows this cohort does not have
        (meta / LINK_TRUTH_FILE).unlink(missing_ok=True)
    written["readme"] = _write_readme(cohort, meta / "README.md", xlsx, out_dir)
    return written


def person_reference(events: pd.DataFrame, people_text: pd.DataFrame, family_ids: np.ndarray) -> pd.DataFrame:
    """Replace an event frame's ``person_idx`` (position in ``people``; -1 = none) by the contract's reference.

    Today that is ``person_id`` (and ``family_id`` from ``family_idx`` for housing and needs rows);
    this is the one place to swap in other identifiers, e.g. unlinked rows carrying only UPN / NHS
    number / names with typos.
    """
    idx = events["person_idx"].to_numpy()
    ids = people_text["person_id"].to_numpy(dtype=object)
    out = events.drop(columns=["person_idx"])
    if "family_idx" in out:
        fam = out.pop("family_idx").to_numpy()
        out.insert(0, "family_id", np.where(fam >= 0, family_ids[np.maximum(fam, 0)], None))
    out.insert(1 if "family_id" in out else 0, "person_id", np.where(idx >= 0, ids[np.maximum(idx, 0)], None))
    return out


# A names-only row needs first name, last name and date of birth to be a person reference at all
# (contract.md): a blank first name would make ingest quarantine the row, which is an injected error
# (``no_person_reference``), not a link problem. Missing fields here are postcodes and identifiers.
UNLINKED_ERROR_RATES: dict[str, float] = {"first_missing": 0.0}


def unlink_rows(tables: dict[str, pd.DataFrame], people: pd.DataFrame, manifest: pd.DataFrame, rate: float,
                seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Turn ``rate`` of the event rows into rows carrying identifiers only; return the tables and the truth.

    ``people`` is the clean people table (before any injected error: a source system holds the true
    identifiers). Rows listed in ``manifest`` keep their ``person_id`` (their injected error stays
    exactly what the manifest says). The work is :func:`tfclaims.synth.unlinked.make_unlinked`: an
    unlinked row gives its person's UPN, NHS or NI number (sometimes two), or first name + last
    name + date of birth (+ postcode, 60%) with transposed letters, nicknames, upper case, lost
    accents and hyphens, day/month swapped, a mistyped day, postcodes without the space, in lower
    case, with the last character changed or from before a house move. The identity columns are
    placed after ``person_id``. Truth: ``table, row`` (as a person sees it, header = row 1),
    ``person_id``, ``mode`` (``upn``, ``nhs_number``, ``ni_number`` or ``names``).
    """
    from tfclaims.synth.unlinked import IDENTITY_COLUMNS, make_unlinked

    kept: dict[str, np.ndarray] = {}
    masked = dict(tables)
    for name in NATIONAL_EVENT_TABLES:
        rows = manifest.loc[manifest["table"] == name, "row"].to_numpy(dtype=np.int64)
        keep = np.zeros(len(tables[name]), dtype=bool)
        keep[rows - 2] = True
        kept[name] = keep
        if keep.any():
            t = tables[name].copy()
            t["person_id"] = t["person_id"].mask(keep)
            masked[name] = t
    out, truth = make_unlinked(masked, people, rate, seed, error_rates=UNLINKED_ERROR_RATES)
    for name in NATIONAL_EVENT_TABLES:
        t = out[name]
        if kept[name].any():
            t = t.copy()
            t["person_id"] = t["person_id"].mask(kept[name], tables[name]["person_id"])
        if IDENTITY_COLUMNS[0] in t.columns:  # the person reference first, as a source system lays it out
            lead = [c for c in t.columns if c in ("family_id", "person_id")]
            ident = list(IDENTITY_COLUMNS)
            t = t[lead + ident + [c for c in t.columns if c not in lead and c not in ident]]
        out[name] = t.astype("str")
    truth = pd.DataFrame({
        "table": truth["table"].astype("str"),
        "row": truth["source_row"].astype("int64"),
        "person_id": truth["person_id"].astype("str"),
        "mode": truth["mode"].astype("str"),
    })
    return out, truth


@lru_cache(maxsize=1)
def name_pools() -> dict[str, Any]:
    """The name and address pools in ``data/reference/synth_names.yaml`` (weights normalised)."""
    with open(REFERENCE_DIR / "synth_names.yaml", encoding="utf-8") as fh:
        doc = safe_yaml(fh)
    last = np.array([n for n, _ in doc["last_names"]], dtype=object)
    weights = np.array([w for _, w in doc["last_names"]], dtype=float)
    return {
        "female": np.array(doc["first_names_female"], dtype=object),
        "male": np.array(doc["first_names_male"], dtype=object),
        "last": last,
        "last_p": weights / weights.sum(),
        "street_suffixes": np.array(doc["street_suffixes"], dtype=object),
        "areas_home": np.array(doc["postcode_areas_home"], dtype=object),
        "areas_away": np.array(doc["postcode_areas_away"], dtype=object),
        "tricky_first": np.array(doc["tricky_first_names"], dtype=object),
        "tricky_last": np.array(doc["tricky_last_names"], dtype=object),
    }


# ---------------------------------------------------------------------------------------------
# Families and people


@dataclass
class _Context:
    framework: str
    programme: ProgrammeDates
    D: int  # period end, day number
    H: int  # end of every history (D + 1 year)


@dataclass
class _FamilyPlan:
    n: int
    family_ids: np.ndarray
    structure: np.ndarray  # index into STRUCTURES
    n_parents: np.ndarray
    n_children: np.ndarray
    n_other: np.ndarray
    n_nrp: np.ndarray
    n_expectant: np.ndarray
    first_person: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    size: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    attached: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    attached_on: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trajectory: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    has_problem: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # F x K
    start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    end: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    subject: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # person index or -1
    job_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    relapse_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    relapse_on: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class _People:
    n: int
    family: np.ndarray  # family index per person
    relationship: np.ndarray  # index into RELATIONSHIPS
    dob: np.ndarray  # day numbers
    sex: np.ndarray  # object: M F X U or None
    female_name: np.ndarray  # bool: first name from the female pool


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    s = pd.Series(numbers, dtype="int64").astype("str").str.zfill(width)
    return (prefix + s).to_numpy(dtype=object)


def _uniform_days(rng: np.random.Generator, lo: Any, hi: Any, size: int | None = None) -> np.ndarray:
    """Integer days uniformly in [lo, hi] (arrays broadcast)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    shape = size if size is not None else np.broadcast(lo, hi).shape
    return lo + np.floor(rng.random(shape) * (hi - lo + 1)).astype(np.int64)


def _plan_families(rng: np.random.Generator, n: int, ctx: _Context) -> _FamilyPlan:
    structure = rng.choice(4, size=n, p=[0.58, 0.30, 0.05, 0.07])
    has_children = structure <= 1
    n_children = np.where(has_children, rng.choice(np.arange(1, 6), size=n, p=[0.45, 0.30, 0.14, 0.08, 0.03]), 0)
    n_parents = np.select([structure == 0, structure == 1, structure == 3], [1, 2, 1], 0)
    n_expectant = np.where(structure == 2, np.where(rng.random(n) < 0.7, 1, 2), 0)
    n_other = np.where(structure == 3, 1, np.where(has_children & (rng.random(n) < 0.08), 1, 0))
    nrp_p = np.select([structure == 0, structure == 2], [0.30, 0.10], 0.0)
    n_nrp = (rng.random(n) < nrp_p).astype(np.int64)
    width = max(6, len(str(n)))
    return _FamilyPlan(
        n=n, family_ids=_ids("F", np.arange(1, n + 1), width), structure=structure,
        n_parents=n_parents, n_children=n_children, n_other=n_other, n_nrp=n_nrp, n_expectant=n_expectant,
    )


def _build_people(rng: np.random.Generator, plan: _FamilyPlan, ctx: _Context) -> _People:
    counts = np.stack([plan.n_parents, plan.n_children, plan.n_other, plan.n_nrp, plan.n_expectant], axis=1)
    # members in order: parents, expectant parents, other adults, children, non-resident parent
    order = [PARENT, EXPECTANT, OTHER_ADULT, CHILD, NRP]
    fam_parts, rel_parts, rank_parts = [], [], []
    for rank, rel in enumerate(order):
        c = counts[:, rel]
        fam_parts.append(np.repeat(np.arange(plan.n), c))
        rel_parts.append(np.full(c.sum(), rel))
        rank_parts.append(np.full(c.sum(), rank))
    fam = np.concatenate(fam_parts)
    rel = np.concatenate(rel_parts)
    rank = np.concatenate(rank_parts)
    o = np.lexsort((rank, fam))  # stable: family, then member order
    fam, rel = fam[o], rel[o]
    n = len(fam)
    plan.size = counts.sum(axis=1)
    plan.first_person = np.concatenate([[0], np.cumsum(plan.size)[:-1]]).astype(np.int64)

    D = ctx.D
    year = 365.2425
    # children: 0-17 at D
    child_age = rng.integers(0, 18, size=n)
    dob = np.full(n, NO_DAY, dtype=np.int64)
    is_child = rel == CHILD
    dob[is_child] = D - (child_age[is_child] * year).astype(np.int64) - rng.integers(0, 365, size=is_child.sum())
    oldest = np.full(plan.n, -1, dtype=np.int64)
    np.maximum.at(oldest, fam[is_child], child_age[is_child])
    # first parent: 17-33 years older than the eldest child, at least 18 at D
    parent_age = np.where(oldest >= 0, oldest + rng.integers(17, 34, size=plan.n), rng.integers(19, 55, size=plan.n))
    parent_age = np.clip(parent_age, 18, 62)
    age = parent_age[fam].astype(float)
    second = (rel == PARENT) & (np.r_[False, (fam[1:] == fam[:-1]) & (rel[:-1] == PARENT)])
    age = np.where(second, age + rng.integers(-4, 7, size=n), age)
    age = np.where(rel == NRP, age + rng.integers(-3, 8, size=n), age)
    other_is_grandparent = rng.random(n) < 0.5
    age = np.where(rel == OTHER_ADULT, np.where(other_is_grandparent, age + rng.integers(19, 30, size=n),
                                                rng.integers(18, 25, size=n)), age)
    age = np.where(rel == EXPECTANT, rng.integers(16, 39, size=n), age)
    age = np.maximum(age, 18 * (rel != EXPECTANT))
    adult_dob = D - (age * year).astype(np.int64) - rng.integers(0, 365, size=n)
    dob = np.where(is_child, dob, adult_dob)

    # sex: first parent mostly F, second parent mostly M; others evenly
    u = rng.random(n)
    female_p = np.select([rel == PARENT, rel == NRP, rel == EXPECTANT], [np.where(second, 0.07, 0.86), 0.12, 0.7], 0.49)
    female = u < female_p
    sex = np.where(female, "F", "M").astype(object)
    v = rng.random(n)
    sex[(v < 0.005)] = "X"
    sex[(v >= 0.005) & (v < 0.02)] = "U"
    sex[(v >= 0.02) & (v < 0.03)] = None
    return _People(n=n, family=fam, relationship=rel, dob=dob, sex=sex, female_name=female)


def _people_text(rng: np.random.Generator, ppl: _People, plan: _FamilyPlan, ctx: _Context,
                 pools: dict[str, Any]) -> pd.DataFrame:
    n, fam, rel = ppl.n, ppl.family, ppl.relationship
    person_ids = _ids("P", np.arange(1, n + 1), max(7, len(str(n))))

    first = np.where(ppl.female_name, pools["female"][rng.integers(0, len(pools["female"]), n)],
                     pools["male"][rng.integers(0, len(pools["male"]), n)])
    fam_surname = pools["last"][rng.choice(len(pools["last"]), size=plan.n, p=pools["last_p"])]
    own_surname = pools["last"][rng.choice(len(pools["last"]), size=n, p=pools["last_p"])]
    keep_family = np.select([rel == CHILD, rel == PARENT, rel == NRP, rel == OTHER_ADULT],
                            [0.85, 0.75, 0.45, 0.6], 0.8)
    last = np.where(rng.random(n) < keep_family, fam_surname[fam], own_surname)
    # nasty-but-valid names, a few of each however small the cohort
    k = max(2, n // 700)
    pick = rng.choice(n, size=min(n, 2 * k), replace=False)
    first[pick[:k]] = pools["tricky_first"][rng.integers(0, len(pools["tricky_first"]), len(pick[:k]))]
    last[pick[k:]] = pools["tricky_last"][rng.integers(0, len(pools["tricky_last"]), len(pick[k:]))]

    # postcodes and addresses: one per household, the non-resident parent elsewhere
    home = _postcodes(rng, plan.n, pools["areas_home"], districts=25)
    away = _postcodes(rng, n, pools["areas_away"], districts=30)
    postcode = np.where(rel == NRP, away, home[fam])
    street_fam = _addresses(rng, plan.n, pools)
    street_own = _addresses(rng, n, pools)
    address = np.where(rel == NRP, street_own, street_fam[fam])
    address[rng.random(n) < 0.04] = None
    postcode[rng.random(n) < 0.01] = None
    messy = rng.random(n) < 0.02
    messy[rng.choice(n, size=min(n, 2), replace=False)] = True
    messy &= pd.notna(postcode)
    postcode[messy] = np.char.replace(np.array(postcode[messy], dtype=str), " ", "").astype(object)
    postcode[messy] = np.char.lower(np.array(postcode[messy], dtype=str)).astype(object)

    # identifiers
    school_age_ever = (rel == CHILD) & (_age(ppl.dob, ctx.H) >= 4)
    upn = np.full(n, None, dtype=object)
    upn[school_age_ever] = _upns(rng, int(school_age_ever.sum()))
    nhs = np.full(n, None, dtype=object)
    has_nhs = rng.random(n) < 0.92
    nhs[has_nhs] = _nhs_numbers(rng, int(has_nhs.sum()))
    ni = np.full(n, None, dtype=object)
    has_ni = (_age(ppl.dob, ctx.D) >= 16) & (rng.random(n) < 0.95)
    ni[has_ni] = _ni_numbers(rng, int(has_ni.sum()))

    df = pd.DataFrame({
        "person_id": person_ids,
        "family_id": plan.family_ids[fam],
        "first_name": first,
        "last_name": last,
        "date_of_birth": _date_text(rng, ppl.dob),
        "sex": ppl.sex,
        "relationship": RELATIONSHIPS[rel],
        "postcode": postcode,
        "address_line_1": address,
        "upn": upn,
        "nhs_number": nhs,
        "ni_number": ni,
    })
    return df.astype("str")


def _age(dob: np.ndarray, on: Any) -> np.ndarray:
    """Whole years (approximate: 365.2425-day years; generation only)."""
    return np.floor((np.asarray(on) - dob) / 365.2425).astype(np.int64)


_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


def _postcodes(rng: np.random.Generator, n: int, areas: np.ndarray, districts: int) -> np.ndarray:
    area = areas[rng.integers(0, len(areas), n)]
    district = pd.Series(rng.integers(1, districts + 1, n)).astype("str").to_numpy(dtype=object)
    sector = pd.Series(rng.integers(0, 10, n)).astype("str").to_numpy(dtype=object)
    unit = _INWARD_LETTERS[rng.integers(0, 20, n)] + _INWARD_LETTERS[rng.integers(0, 20, n)]
    return area + district + " " + sector + unit


def _addresses(rng: np.random.Generator, n: int, pools: dict[str, Any]) -> np.ndarray:
    number = pd.Series(rng.integers(1, 250, n)).astype("str").to_numpy(dtype=object)
    street = pools["last"][rng.integers(0, len(pools["last"]), n)] + " " + \
        pools["street_suffixes"][rng.integers(0, len(pools["street_suffixes"]), n)]
    flat = rng.random(n) < 0.12
    flat_no = pd.Series(rng.integers(1, 40, n)).astype("str").to_numpy(dtype=object)
    return np.where(flat, "Flat " + flat_no + ", " + number + " " + street, number + " " + street)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) array of the decimal digits of non-negative integers."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def _upns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique permanent UPNs: check letter + LA code (3) + 9 further digits, check letter right."""
    la = rng.choice(np.array([892, 892, 892, 892, 891, 830, 855]), size=n)
    rest = rng.choice(10**9, size=n, replace=False) if n else np.zeros(0, np.int64)
    body = la.astype(np.int64) * 10**9 + rest
    digits = _digits(body, 12)
    check = (digits * np.arange(2, 14)).sum(axis=1) % 23
    letters = np.array(list(UPN_LETTERS), dtype=object)
    body_text = pd.Series(body).astype("str").str.zfill(12).to_numpy(dtype=object)
    return letters[check] + body_text


def _nhs_check(first9: np.ndarray) -> np.ndarray:
    return (11 - (_digits(first9, 9) * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11


def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique NHS numbers in the 9xx range with a valid modulus-11 check digit."""
    if n == 0:
        return np.zeros(0, dtype=object)
    draw = 900_000_000 + rng.choice(100_000_000, size=int(n * 1.15) + 20, replace=False)
    check = _nhs_check(draw)
    ok = check != 10
    draw, check = draw[ok][:n], check[ok][:n]
    return pd.Series(draw * 10 + check).astype("str").to_numpy(dtype=object)


_NI_FIRST = list("ABCEGHJKLMNOPRSTWXYZ")
_NI_SECOND = list("ABCEGHJKLMNPRSTWXYZ")
_NI_PREFIXES = np.array([a + b for a in _NI_FIRST for b in _NI_SECOND
                         if a + b not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}], dtype=object)


def _ni_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique National Insurance numbers of the right format."""
    if n == 0:
        return np.zeros(0, dtype=object)
    u = rng.choice(len(_NI_PREFIXES) * 10**6, size=n, replace=False)
    digits = pd.Series(u % 10**6).astype("str").str.zfill(6).to_numpy(dtype=object)
    suffix = np.array(list("ABCD"), dtype=object)[rng.integers(0, 4, n)]
    return _NI_PREFIXES[u // 10**6] + digits + suffix


# ---------------------------------------------------------------------------------------------
# Problems and trajectories


def _pick_member(rng: np.random.Generator, ppl: _People, plan: _FamilyPlan, candidate: np.ndarray) -> np.ndarray:
    """One random candidate member per family (person index), -1 when the family has none."""
    key = rng.random(ppl.n)
    key[~candidate] = -1.0
    o = np.lexsort((key, ppl.family))
    last_of_family = plan.first_person + plan.size - 1
    chosen = o[last_of_family]
    return np.where(key[chosen] >= 0, chosen, -1)


def _plan_problems(rng: np.random.Generator, plan: _FamilyPlan, ppl: _People, ctx: _Context) -> None:
    F, K, D, H = plan.n, len(PROBLEMS), ctx.D, ctx.H
    n_problems = rng.choice(6, size=F, p=[0.10, 0.20, 0.28, 0.22, 0.13, 0.07])
    weights = np.array([0.16, 0.18, 0.13, 0.18, 0.12, 0.12, 0.06, 0.05])
    gumbel = np.log(weights)[None, :] - np.log(-np.log(rng.random((F, K))))
    ranks = np.argsort(np.argsort(-gumbel, axis=1), axis=1)
    has = ranks < n_problems[:, None]

    attached = rng.random(F) < np.where(n_problems >= 2, 0.62, 0.20)
    attached_on = D + _uniform_days(rng, -820, 120, F)
    reference = np.where(attached, attached_on, D - _uniform_days(rng, 0, 300, F))
    trajectory = np.where(attached, rng.choice([1, 2, 3], size=F, p=[0.55, 0.20, 0.25]), 0)

    # subjects
    age_r = _age(ppl.dob, reference[ppl.family])
    rel = ppl.relationship
    adult = np.isin(rel, [PARENT, OTHER_ADULT, EXPECTANT]) & (age_r >= 18)
    parentish = np.isin(rel, [PARENT, EXPECTANT]) & (age_r >= 16)
    child = (rel == CHILD) & (age_r >= 0) & (age_r < 18)
    subject = np.full((F, K), -1, dtype=np.int64)
    subject[:, _K["crime"]] = _pick_member(rng, ppl, plan, adult | (child & (age_r >= 10)))
    subject[:, _K["education"]] = _pick_member(rng, ppl, plan, child & (age_r >= 5) & (age_r <= 15))
    subject[:, _K["social_care"]] = _pick_member(rng, ppl, plan, child)
    subject[:, _K["worklessness"]] = _pick_member(rng, ppl, plan, np.isin(rel, [PARENT, EXPECTANT]) & (age_r >= 18))
    subject[:, _K["domestic_abuse"]] = _pick_member(rng, ppl, plan, parentish)
    subject[:, _K["mental_health"]] = _pick_member(rng, ppl, plan, adult)
    subject[:, _K["substance"]] = _pick_member(rng, ppl, plan, adult)
    subject[:, _K["housing"]] = _pick_member(rng, ppl, plan, parentish | adult)
    nrp = _pick_member(rng, ppl, plan, rel == NRP)
    for kind in ("crime", "worklessness", "domestic_abuse", "mental_health", "substance"):
        k = _K[kind]
        to_nrp = (nrp >= 0) & (rng.random(F) < 0.35)
        subject[:, k] = np.where(to_nrp, nrp, subject[:, k])
    has &= subject >= 0

    start = reference[:, None] - _uniform_days(rng, 30, 900, (F, K))
    quick = reference[:, None] + _uniform_days(rng, 0, 90, (F, K))
    quick[:, _K["education"]] = reference + _uniform_days(rng, 0, 60, F)
    persists = rng.random((F, K)) < 0.7
    never_persists = has & ~(has & persists).any(axis=1, keepdims=True)
    persists |= never_persists & (np.arange(K)[None, :] == np.argmax(has, axis=1)[:, None])
    open_end = np.full((F, K), H + 1, dtype=np.int64)
    not_attached_end = reference[:, None] + _uniform_days(rng, 30, 500, (F, K))
    end = np.select(
        [trajectory[:, None] == 0, trajectory[:, None] == 2],
        [not_attached_end, np.where(persists, open_end, quick)],
        quick,
    )

    # relapse: one new event after the problems stopped, in a kind the data measures
    relapse_kinds = np.array([_K["crime"], _K["domestic_abuse"], _K["worklessness"], _K["mental_health"]])
    rk_key = np.where(has[:, relapse_kinds], rng.random((F, len(relapse_kinds))), -1.0)
    rk = relapse_kinds[np.argmax(rk_key, axis=1)]
    can_relapse = (trajectory == 3) & (rk_key.max(axis=1) >= 0)
    relapse_on = np.where(can_relapse, reference + _uniform_days(rng, 210, 480, F), NO_DAY)
    relapse_on = np.where(relapse_on > H, NO_DAY, relapse_on)
    can_relapse &= relapse_on != NO_DAY
    trajectory = np.where((trajectory == 3) & ~can_relapse, 1, trajectory)

    # jobs after attachment for worklessness subjects
    w = _K["worklessness"]
    gets_job = attached & has[:, w] & (rng.random(F) < 0.5)
    job_start = np.where(gets_job, reference + _uniform_days(rng, 20, 240, F), NO_DAY)
    job_start = np.where(job_start > H - 14, NO_DAY, job_start)
    gets_job = job_start != NO_DAY
    end[:, w] = np.where(gets_job, job_start - _uniform_days(rng, 1, 21, F), end[:, w])

    plan.attached, plan.attached_on, plan.reference, plan.trajectory = attached, attached_on, reference, trajectory
    plan.has_problem, plan.start, plan.end, plan.subject = has, start, end, subject
    plan.job_start, plan.relapse_kind, plan.relapse_on = job_start, np.where(can_relapse, rk, -1), relapse_on


def _spread(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, first_lo: np.ndarray, first_hi: np.ndarray,
            per_year: float, max_events: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Events for each of m intervals: one in [first_lo, first_hi], more spread over [lo, hi].

    Returns (interval index per event, day per event).
    """
    years = np.maximum(hi - lo, 0) / 365.25
    n = 1 + np.minimum(rng.poisson(per_year * years), max_events - 1)
    owner = np.repeat(np.arange(len(lo)), n)
    day = _uniform_days(rng, lo[owner], hi[owner])
    firsts = (np.cumsum(n) - n).astype(np.int64)
    day[firsts] = _uniform_days(rng, first_lo, first_hi)
    return owner, day


def _frame(**cols: Any) -> pd.DataFrame:
    return pd.DataFrame(cols)


def _build_events(rng: np.random.Generator, plan: _FamilyPlan, ppl: _People, ctx: _Context) -> dict[str, pd.DataFrame]:
    D, H = ctx.D, ctx.H
    out: dict[str, list[pd.DataFrame]] = {t: [] for t in NATIONAL_EVENT_TABLES}

    def problem(kind: str, per_year: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(family, subject person, day) of the events of one problem kind."""
        k = _K[kind]
        f = np.flatnonzero(plan.has_problem[:, k])
        lo, R = plan.start[f, k], plan.reference[f]
        hi = np.minimum(plan.end[f, k], H)
        owner, day = _spread(rng, lo, hi, np.maximum(lo, R - 330), R - 1, per_year)
        fam = f[owner]
        keep = day <= H
        return fam[keep], plan.subject[fam[keep], k], day[keep]

    def relapse(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = np.flatnonzero((plan.relapse_kind == _K[kind]) & (plan.relapse_on != NO_DAY))
        return f, plan.subject[f, _K[kind]], plan.relapse_on[f]

    adult_now = np.isin(ppl.relationship, [PARENT, OTHER_ADULT, NRP, EXPECTANT]) & (_age(ppl.dob, D) >= 18)
    window_lo = D - 3 * 365

    # --- offences and ASB
    fam, who, day = problem("crime", 1.5)
    rf, rw, rd = relapse("crime")
    fam, who, day = np.r_[fam, rf], np.r_[who, rw], np.r_[day, rd]
    is_first = np.r_[True, fam[1:] != fam[:-1]] if len(fam) else np.zeros(0, bool)
    is_asb = rng.random(len(day)) < 0.35
    outcome = rng.choice(np.array(["proven", "not_proven", "pending"], dtype=object), size=len(day), p=[0.6, 0.22, 0.18])
    outcome[is_first | (np.arange(len(day)) >= len(day) - len(rf))] = "proven"
    offence_types = np.array(["theft", "criminal damage", "assault", "burglary", "drugs possession", "public order",
                              "vehicle offence", None], dtype=object)
    # background: a few not-proven / pending offences among people aged 10+
    bg = np.flatnonzero((_age(ppl.dob, D) >= 10) & (rng.random(ppl.n) < 0.03))
    bg_outcome = rng.choice(np.array(["not_proven", "pending", "proven"], dtype=object), size=len(bg), p=[0.6, 0.3, 0.1])
    off_who = np.r_[who[~is_asb], bg]
    out["offences"].append(_frame(
        person_idx=off_who, offence_date=np.r_[day[~is_asb], _uniform_days(rng, window_lo, H, len(bg))],
        outcome=np.r_[outcome[~is_asb], bg_outcome],
        offence_type=offence_types[rng.integers(0, len(offence_types), len(off_who))],
    ))
    asb_types = np.array(["warning", "acceptable_behaviour_contract", "injunction", "criminal_behaviour_order",
                          "housing_action", "other"], dtype=object)
    out["asb_incidents"].append(_frame(
        person_idx=who[is_asb], incident_date=day[is_asb],
        asb_type=rng.choice(asb_types, size=int(is_asb.sum()), p=[0.45, 0.2, 0.08, 0.05, 0.12, 0.10]),
    ))

    # --- domestic abuse: victim (perpetrator when the subject is the non-resident parent), partner, children
    fam, who, day = problem("domestic_abuse", 1.2)
    rf, rw, rd = relapse("domestic_abuse")
    fam, who, day = np.r_[fam, rf], np.r_[who, rw], np.r_[day, rd]
    sources = np.array(["police", "marac", "idva", "other"], dtype=object)
    role = np.where(ppl.relationship[who] == NRP, "perpetrator", "victim").astype(object)
    role[rng.random(len(who)) < 0.03] = "unknown"
    partner = _pick_member(rng, ppl, plan, np.isin(ppl.relationship, [PARENT, NRP]))
    a_child = _pick_member(rng, ppl, plan, ppl.relationship == CHILD)
    with_partner = (partner[fam] >= 0) & (partner[fam] != who) & (rng.random(len(who)) < 0.4)
    with_child = (a_child[fam] >= 0) & (rng.random(len(who)) < 0.25)
    src = rng.choice(sources, size=len(who), p=[0.6, 0.15, 0.15, 0.10])
    partner_role = np.where(role == "victim", "perpetrator", "victim").astype(object)
    out["domestic_abuse"].append(_frame(
        person_idx=np.r_[who, partner[fam][with_partner], a_child[fam][with_child]],
        incident_date=np.r_[day, day[with_partner], day[with_child]],
        role=np.r_[role, partner_role[with_partner], np.full(int(with_child.sum()), "child_in_household", dtype=object)],
        source=np.r_[src, src[with_partner], src[with_child]],
    ))

    # --- health: problems, relapses, maternity for expectant parents, background
    fam, who, day = problem("mental_health", 2.0)
    rf, rw, rd = relapse("mental_health")
    mh = np.r_[who, rw], np.r_[day, rd]
    sfam, swho, sday = problem("substance", 2.0)
    expectant = np.flatnonzero(ppl.relationship == EXPECTANT)
    bg = np.flatnonzero(rng.random(ppl.n) < 0.06)
    out["health"].append(_frame(
        person_idx=np.r_[mh[0], swho, expectant, bg],
        recorded_on=np.r_[mh[1], sday, D - _uniform_days(rng, 0, 240, len(expectant)),
                          _uniform_days(rng, window_lo, H, len(bg))],
        issue=np.r_[
            rng.choice(np.array(["mental_health", "physical_health"], dtype=object), size=len(mh[0]), p=[0.75, 0.25]),
            rng.choice(np.array(["substance_misuse", "alcohol_misuse"], dtype=object), size=len(swho), p=[0.55, 0.45]),
            np.full(len(expectant), "maternity", dtype=object),
            rng.choice(np.array(["disability", "other", "mental_health", "physical_health"], dtype=object),
                       size=len(bg), p=[0.4, 0.4, 0.1, 0.1]),
        ],
    ))

    # --- housing: by family (60%) or by person
    fam, who, day = problem("housing", 2.0)
    issues = np.array(["homeless", "temporary_accommodation", "eviction_notice", "rent_arrears", "overcrowding",
                       "tenancy_asb"], dtype=object)
    end = plan.end[fam, _K["housing"]]
    resolved = np.where(end <= H, np.maximum(day, end) + _uniform_days(rng, 0, 30, len(day)), NO_DAY)
    resolved = np.where(resolved > H, NO_DAY, resolved)
    by_family = rng.random(len(day)) < 0.6
    out["housing"].append(_frame(
        family_idx=np.where(by_family, fam, -1), person_idx=np.where(by_family, -1, who), recorded_on=day,
        issue=rng.choice(issues, size=len(day), p=[0.1, 0.15, 0.15, 0.35, 0.15, 0.1]), resolved_on=resolved,
    ))

    # --- social care: one CIN / CP episode per problem, some early help before it, a little LAC
    k = _K["social_care"]
    f = np.flatnonzero(plan.has_problem[:, k])
    who = plan.subject[f, k]
    start = plan.start[f, k]
    stop = np.where(plan.end[f, k] > H, NO_DAY, plan.end[f, k])
    eh = rng.random(len(f)) < 0.3
    eh_start = start[eh] - _uniform_days(rng, 60, 300, int(eh.sum()))
    lac = np.flatnonzero((ppl.relationship == CHILD) & (rng.random(ppl.n) < 0.004))
    lac_start = _uniform_days(rng, window_lo, D, len(lac))
    lac_end = np.where(rng.random(len(lac)) < 0.5, lac_start + _uniform_days(rng, 30, 400, len(lac)), NO_DAY)
    lac_end = np.where(lac_end > H, NO_DAY, lac_end)
    out["social_care"].append(_frame(
        person_idx=np.r_[who, who[eh], lac],
        episode_type=np.r_[rng.choice(np.array(["cin", "cp"], dtype=object), size=len(f), p=[0.6, 0.4]),
                           np.full(int(eh.sum()), "early_help", dtype=object), np.full(len(lac), "lac", dtype=object)],
        start_date=np.r_[start, eh_start, lac_start],
        end_date=np.r_[stop, start[eh] - 1, lac_end],
    ))

    # --- benefits: out-of-work spells for worklessness, relapse spells, broken jobs, background
    k = _K["worklessness"]
    f = np.flatnonzero(plan.has_problem[:, k])
    who = plan.subject[f, k]
    start = plan.start[f, k]
    stop = np.where(plan.end[f, k] > H, NO_DAY, plan.end[f, k])
    oow = np.array(["UC_SEARCHING", "JSA", "ESA", "IS", "UC_PLANNING", "UC_PREPARING", "UC_NO_REQUIREMENTS", "IB",
                    "SDA"], dtype=object)
    oow_p = [0.35, 0.15, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]
    kind1 = rng.choice(oow, size=len(f), p=oow_p)
    kind2 = rng.choice(oow, size=len(f), p=oow_p)
    split = (rng.random(len(f)) < 0.2) & ((np.where(stop == NO_DAY, H, stop) - start) > 120)
    mid = start + (np.where(stop == NO_DAY, H, stop) - start) // 2
    rf, rw, rd = relapse("worklessness")
    job_broken = (plan.job_start[f] != NO_DAY) & (rng.random(len(f)) < 0.1)
    broken_start = plan.job_start[f][job_broken] + _uniform_days(rng, 14, 100, int(job_broken.sum()))
    broken_who = who[job_broken][broken_start <= H]
    broken_start = broken_start[broken_start <= H]
    adults = np.flatnonzero(adult_now)
    bg = adults[rng.random(len(adults)) < 0.45]
    bg_types = np.array(["CB", "HB", "UC_WORKING", "PIP", "DLA", "CA", "OTHER", "ESA"], dtype=object)
    bg_kind = rng.choice(bg_types, size=len(bg), p=[0.35, 0.2, 0.15, 0.08, 0.05, 0.05, 0.04, 0.08])
    bg_start = _uniform_days(rng, D - 6 * 365, D, len(bg))
    bg_end = np.where(rng.random(len(bg)) < 0.5, NO_DAY, bg_start + _uniform_days(rng, 60, 900, len(bg)))
    # an old ESA spell for someone with no problem must end well before any attachment window
    old = bg_kind == "ESA"
    bg_start[old] = D - _uniform_days(rng, 5 * 365, 8 * 365, int(old.sum()))
    bg_end[old] = bg_start[old] + _uniform_days(rng, 60, 300, int(old.sum()))
    bg_end = np.where(bg_end > H, NO_DAY, bg_end)
    out["benefits"].append(_frame(
        person_idx=np.r_[who, who[split], rw, broken_who, bg],
        benefit_type=np.r_[kind1, kind2[split], rng.choice(oow, size=len(rw), p=oow_p),
                           np.full(len(broken_who), "ESA", dtype=object), bg_kind],
        start_date=np.r_[start, mid[split] + 1, rd, broken_start, bg_start],
        end_date=np.r_[np.where(split, mid, stop), stop[split], np.full(len(rw), NO_DAY),
                       np.full(len(broken_who), NO_DAY), bg_end],
    ))

    # --- employment: jobs after attachment, background jobs of adults without worklessness
    fj = np.flatnonzero(plan.job_start != NO_DAY)
    jwho = plan.subject[fj, _K["worklessness"]]
    jstart = plan.job_start[fj]
    jend = np.where(rng.random(len(fj)) < 0.55, NO_DAY, jstart + _uniform_days(rng, 30, 500, len(fj)))
    jend = np.where(jend > H, NO_DAY, jend)
    workless = np.zeros(ppl.n, bool)
    workless[plan.subject[plan.has_problem[:, k], k]] = True
    cand = np.flatnonzero(adult_now & ~workless)
    bw = cand[rng.random(len(cand)) < 0.3]
    bstart = D - _uniform_days(rng, 30, 6 * 365, len(bw))
    bend = np.where(rng.random(len(bw)) < 0.65, NO_DAY, bstart + _uniform_days(rng, 60, 900, len(bw)))
    bend = np.where(bend > H, NO_DAY, bend)
    hours = np.round(rng.uniform(8, 40, len(fj) + len(bw)) * 2) / 2
    hours[rng.random(len(hours)) < 0.1] = np.nan
    out["employment"].append(_frame(
        person_idx=np.r_[jwho, bw], start_date=np.r_[jstart, bstart], end_date=np.r_[jend, bend], hours_per_week=hours,
    ))

    # --- attendance and exclusions
    out["school_attendance"].append(_attendance(rng, plan, ppl, ctx))
    k = _K["education"]
    f = np.flatnonzero(plan.has_problem[:, k] & (rng.random(plan.n) < 0.35))
    n_susp = rng.integers(1, 5, len(f))
    owner = np.repeat(np.arange(len(f)), n_susp)
    lo = plan.start[f, k][owner]
    hi = np.minimum(plan.end[f, k][owner], H)
    sday = _uniform_days(rng, lo, hi)
    perm = f[rng.random(len(f)) < 0.1]
    bg = np.flatnonzero((ppl.relationship == CHILD) & (_age(ppl.dob, D) >= 6) & (rng.random(ppl.n) < 0.01))
    ex_who = np.r_[plan.subject[f, k][owner], plan.subject[perm, k], bg]
    ex_type = np.r_[np.full(len(owner) , "suspension", dtype=object), np.full(len(perm), "permanent", dtype=object),
                    np.full(len(bg), "suspension", dtype=object)]
    sessions = rng.integers(1, 11, len(ex_who)).astype(float)
    sessions[(ex_type == "permanent") | (rng.random(len(ex_who)) < 0.1)] = np.nan
    out["exclusions"].append(_frame(
        person_idx=ex_who,
        start_date=np.r_[sday, _uniform_days(rng, plan.start[perm, k], np.minimum(plan.end[perm, k], H)),
                         _uniform_days(rng, window_lo, H, len(bg))],
        exclusion_type=ex_type, sessions=sessions,
    ))

    events: dict[str, pd.DataFrame] = {}
    for name in NATIONAL_EVENT_TABLES:
        df = pd.concat(out[name], ignore_index=True)
        date_col = DATE_COLUMNS[name][0] if DATE_COLUMNS[name] else None
        if name == "housing":
            key = np.where(df["person_idx"] >= 0, ppl.family[np.maximum(df["person_idx"], 0)], df["family_idx"])
            df = df.iloc[np.lexsort((df["recorded_on"].to_numpy(), key))]
        elif date_col is not None:
            df = df.iloc[np.lexsort((df[date_col].to_numpy(), df["person_idx"].to_numpy()))]
        events[name] = df.reset_index(drop=True)
    return events


def _attendance(rng: np.random.Generator, plan: _FamilyPlan, ppl: _People, ctx: _Context) -> pd.DataFrame:
    """One row per school-age child per term whose end falls in [D - 36 months, H]."""
    D, H = ctx.D, ctx.H
    y0 = (_EPOCH + dt.timedelta(days=D)).year - 4
    terms = []  # (academic year start, term, start day, end day, possible lo, possible hi)
    for y in range(y0, y0 + 7):
        for term, s, e, lo, hi in (("autumn", dt.date(y, 9, 1), dt.date(y, 12, 31), 138, 146),
                                   ("spring", dt.date(y + 1, 1, 1), dt.date(y + 1, 3, 31), 108, 124),
                                   ("summer", dt.date(y + 1, 4, 1), dt.date(y + 1, 7, 31), 116, 130)):
            if D - 3 * 365 <= _day(e) <= H:
                terms.append((y, term, _day(s), _day(e), lo, hi))
    T = len(terms)
    ty = np.array([t[0] for t in terms])
    tstart = np.array([t[2] for t in terms])
    tend = np.array([t[3] for t in terms])
    aug31 = np.array([_day(dt.date(y, 8, 31)) for y in ty])
    kids = np.flatnonzero(ppl.relationship == CHILD)
    age = _age(ppl.dob[kids][:, None], aug31[None, :])  # kids x T
    on_roll = (age >= 4) & (age <= 15) & (rng.random((len(kids), T)) > 0.02)
    ci, ti = np.nonzero(on_roll)
    who = kids[ci]
    fam = ppl.family[who]
    k = _K["education"]
    affected_child = np.zeros(ppl.n, bool)
    fam_edu = plan.has_problem[ppl.family[kids], k]
    subj = plan.subject[ppl.family[kids], k] == kids
    affected_child[kids] = fam_edu & (subj | (rng.random(len(kids)) < 0.5))
    in_problem = (affected_child[who] & (tstart[ti] <= plan.end[fam, k]) & (tend[ti] >= plan.start[fam, k]))
    lo = np.array([t[4] for t in terms])[ti]
    hi = np.array([t[5] for t in terms])[ti]
    possible = rng.integers(lo, hi + 1)
    possible[rng.random(len(possible)) < 0.005] = 0
    rate = np.where(in_problem, rng.uniform(0.11, 0.40, len(who)), rng.beta(1.5, 45, len(who)))
    absent = np.minimum(np.round(rate * possible).astype(np.int64), possible)
    authorised = np.round(absent * rng.uniform(0.3, 0.95, len(who))).astype(np.int64)
    year_text = np.array([f"{y}/{(y + 1) % 100:02d}" for y in ty], dtype=object)
    term_text = np.array([t[1] for t in terms], dtype=object)
    order = np.lexsort((ti, who))
    return _frame(
        person_idx=who[order], academic_year=year_text[ti][order], term=term_text[ti][order],
        sessions_possible=possible[order], sessions_authorised_absence=authorised[order],
        sessions_unauthorised_absence=(absent - authorised)[order],
    )


def _build_programme(rng: np.random.Generator, plan: _FamilyPlan, ctx: _Context, pools: dict[str, Any]) -> pd.DataFrame:
    H = ctx.H
    f = np.flatnonzero(plan.attached)
    m = len(f)
    att = plan.attached_on[f]
    staff_first = np.r_[pools["female"], pools["male"]]
    staff = staff_first[rng.integers(0, len(staff_first), 60)] + " " + pools["last"][rng.integers(0, len(pools["last"]), 60)]
    lead = staff[rng.integers(0, len(staff), m)].astype(object)
    lead[rng.random(m) >= 0.93] = None
    wfa = np.where(rng.random(m) < 0.90, att + _uniform_days(rng, 0, 42, m), NO_DAY)
    plan_on = np.where((rng.random(m) < 0.88), np.where(wfa == NO_DAY, att, wfa) + _uniform_days(rng, 0, 28, m), NO_DAY)
    traj = plan.trajectory[f]
    closes = (att <= H - 90) & (rng.random(m) < 0.55)
    closed = np.where(closes, att + _uniform_days(rng, 90, 455, m), NO_DAY)
    closed = np.where(closed > H, NO_DAY, closed)
    reasons = np.array(["outcomes_achieved", "stepped_up", "disengaged", "moved_away", "other"], dtype=object)
    reason = np.where(traj == 2, rng.choice(reasons[1:], size=m, p=[0.4, 0.35, 0.15, 0.1]),
                      np.where(rng.random(m) < 0.85, "outcomes_achieved", rng.choice(reasons[1:], size=m))).astype(object)
    reason[(closed == NO_DAY) | (rng.random(m) < 0.08)] = None
    notes = np.array([
        "Manager agreed progress on attendance is sustained though one term was just under 90%",
        "Discretion: offending outcome judged met - incident was before engagement (panel minute)",
        "Family moved within the borough; outcomes verified with new school",
        "Head of service approved: needs met, evidence held on case file",
    ], dtype=object)
    note = np.where(rng.random(m) < 0.06, notes[rng.integers(0, len(notes), m)], None).astype(object)
    return _frame(
        family_id=plan.family_ids[f], attached_on=att, lead_practitioner=lead, whole_family_assessment_on=wfa,
        action_plan_on=plan_on, closed_on=closed, closure_reason=reason, discretion_note=note,
    )


def _build_needs(rng: np.random.Generator, plan: _FamilyPlan, ppl: _People, ctx: _Context) -> pd.DataFrame:
    """Needs rows recorded at assessment for attached families' problems, new needs during the work, others."""
    H, fw = ctx.H, ctx.framework
    headline_of = PROBLEM_HEADLINES[fw]
    fam_parts, person_parts, headline_parts, ident_parts, outcome_parts, on_parts = [], [], [], [], [], []
    R = plan.reference
    assess = R + _uniform_days(rng, 0, 40, plan.n)
    for kind in PROBLEMS:
        headline = headline_of[kind]
        if headline is None:
            continue
        k = _K[kind]
        f = np.flatnonzero(plan.attached & plan.has_problem[:, k])
        m = len(f)
        ident = assess[f]
        persisting = plan.end[f, k] > H
        met_on = np.maximum(plan.end[f, k], ident) + _uniform_days(rng, 20, 120, m)
        outcome = np.where(persisting, np.where(rng.random(m) < 0.6, "open", "not_met"), "met").astype(object)
        relapsed = plan.relapse_kind[f] == k
        outcome[relapsed & (rng.random(m) < 0.5)] = "open"
        outcome[rng.random(m) < 0.04] = "withdrawn"
        on = np.select([outcome == "met", outcome == "not_met", outcome == "withdrawn"],
                       [met_on, ident + _uniform_days(rng, 120, 400, m), ident + _uniform_days(rng, 10, 200, m)], NO_DAY)
        late = (on > H) & (outcome != "withdrawn")
        outcome[late] = "open"
        on = np.where(late | (on > H), NO_DAY, on)
        fam_parts.append(f)
        person_parts.append(np.where(rng.random(m) < 0.5, plan.subject[f, k], -1))
        headline_parts.append(np.full(m, headline, dtype=object))
        ident_parts.append(ident)
        outcome_parts.append(outcome)
        on_parts.append(on)
    # needs-only headlines (sf-2022): early years (a child under 5), family relationships
    for headline in NEEDS_ONLY_HEADLINES[fw]:
        f = np.flatnonzero(plan.attached & (rng.random(plan.n) < 0.2))
        m = len(f)
        ident = assess[f]
        outcome = rng.choice(np.array(["met", "open", "not_met"], dtype=object), size=m, p=[0.6, 0.3, 0.1])
        on = np.where(outcome != "open", ident + _uniform_days(rng, 60, 300, m), NO_DAY)
        outcome = np.where(on > H, "open", outcome).astype(object)
        on = np.where(on > H, NO_DAY, on)
        fam_parts.append(f), person_parts.append(np.full(m, -1)), headline_parts.append(np.full(m, headline, dtype=object))
        ident_parts.append(ident), outcome_parts.append(outcome), on_parts.append(on)
    # a problem that appears during the work (10% of attached families)
    headlines = np.array(sorted({h for h in headline_of.values() if h} | set(NEEDS_ONLY_HEADLINES[fw])), dtype=object)
    f = np.flatnonzero(plan.attached & (rng.random(plan.n) < 0.10))
    m = len(f)
    ident = R[f] + _uniform_days(rng, 30, 300, m)
    keep = ident <= H
    f, ident, m = f[keep], ident[keep], int(keep.sum())
    outcome = rng.choice(np.array(["met", "open"], dtype=object), size=m, p=[0.6, 0.4])
    on = np.where(outcome == "met", ident + _uniform_days(rng, 30, 200, m), NO_DAY)
    outcome = np.where(on > H, "open", outcome).astype(object)
    on = np.where(on > H, NO_DAY, on)
    fam_parts.append(f), person_parts.append(np.full(m, -1)), headline_parts.append(headlines[rng.integers(0, len(headlines), m)])
    ident_parts.append(ident), outcome_parts.append(outcome), on_parts.append(on)
    # early-help assessments of families not (yet) attached
    f = np.flatnonzero(~plan.attached & (rng.random(plan.n) < 0.05))
    m = len(f)
    fam_parts.append(f), person_parts.append(np.full(m, -1)), headline_parts.append(headlines[rng.integers(0, len(headlines), m)])
    ident_parts.append(ctx.D - _uniform_days(rng, 0, 300, m)), outcome_parts.append(np.full(m, "open", dtype=object))
    on_parts.append(np.full(m, NO_DAY))

    fam = np.concatenate(fam_parts).astype(np.int64)
    ident = np.concatenate(ident_parts)
    n = len(fam)
    refs = pd.Series(rng.integers(10000, 999999, n)).astype("str").to_numpy(dtype=object)
    evidence = np.where(rng.random(n) < 0.7, "CN-" + refs, None)
    df = _frame(
        family_idx=fam, person_idx=np.concatenate(person_parts).astype(np.int64),
        headline=np.concatenate(headline_parts), need_code=np.full(n, None, dtype=object), identified_on=ident,
        outcome=np.concatenate(outcome_parts), outcome_on=np.concatenate(on_parts), evidence_ref=evidence,
    )
    return df.iloc[np.lexsort((ident, fam))].reset_index(drop=True)


def _scenarios(plan: _FamilyPlan, ppl: _People) -> pd.DataFrame:
    """The plan of each family, for people checking later stages (intended, not computed by the rules)."""
    has = plan.has_problem
    names = np.array(PROBLEMS, dtype=object)
    problems = _join_flags(has, names)
    nrp_subject = np.zeros_like(has)
    valid = plan.subject >= 0
    nrp_subject[valid] = ppl.relationship[plan.subject[valid]] == NRP
    nrp_problems = _join_flags(has & nrp_subject, names)
    return pd.DataFrame({
        "family_id": plan.family_ids,
        "structure": STRUCTURES[plan.structure],
        "members": plan.size,
        "has_non_resident_parent": np.where(plan.n_nrp > 0, "true", "false"),
        "attached": np.where(plan.attached, "true", "false"),
        "trajectory": TRAJECTORIES[plan.trajectory],
        "problems": problems,
        "non_resident_parent_problems": nrp_problems,
        "job_after_attachment_on": _iso(plan.job_start),
        "relapse_on": _iso(plan.relapse_on),
    }).astype("str")


def _join_flags(flags: np.ndarray, names: np.ndarray) -> np.ndarray:
    out = np.full(flags.shape[0], "", dtype=object)
    for j, name in enumerate(names):
        sep = np.where(out == "", "", ";")
        out = np.where(flags[:, j], out + sep + name, out)
    return out


# ---------------------------------------------------------------------------------------------
# Text rendering


def _iso(days: np.ndarray) -> np.ndarray:
    """ISO date text of day numbers; missing -> None."""
    days = np.asarray(days, dtype=np.int64)
    missing = days == NO_DAY
    text = np.datetime_as_string(np.where(missing, 0, days).astype("datetime64[D]"), unit="D").astype(object)
    text[missing] = None
    return text


def _date_text(rng: np.random.Generator, days: np.ndarray, dayfirst_rate: float = 0.05) -> np.ndarray:
    """ISO dates, a minority written UK day-first (``31/03/2024``)."""
    text = _iso(days)
    uk = (rng.random(len(text)) < dayfirst_rate) & pd.notna(text)
    if uk.any():
        s = pd.Series(text[uk], dtype="str")
        text[uk] = (s.str[8:10] + "/" + s.str[5:7] + "/" + s.str[0:4]).to_numpy(dtype=object)
    return text


def _number_text(values: np.ndarray, integer: bool) -> np.ndarray:
    v = pd.Series(values, dtype="Float64")
    s = v.astype("Int64").astype("str") if integer else _float_text(v)
    return s.where(v.notna(), None).to_numpy(dtype=object)


def _float_text(v: pd.Series) -> pd.Series:
    whole = v.round(0) == v
    as_int = v.round(0).astype("Int64").astype("str")
    as_half = (v.astype("float64").round(1)).astype("str")
    return as_int.where(whole.fillna(False), as_half).where(v.notna(), None)


def _event_text(rng: np.random.Generator, name: str, df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in CONTRACT_COLUMNS[name]:
        s = df[col].to_numpy() if col in df else np.full(len(df), None, dtype=object)
        if col in DATE_COLUMNS[name]:
            out[col] = _date_text(rng, s.astype(np.int64))
        elif col in INTEGER_COLUMNS.get(name, ()):
            out[col] = _number_text(s, integer=True)
        elif col in NUMBER_COLUMNS.get(name, ()):
            out[col] = _number_text(s, integer=False)
        else:
            out[col] = s
    return pd.DataFrame(out).astype("str")


# ---------------------------------------------------------------------------------------------
# Error injection


@dataclass(frozen=True)
class _Target:
    table: str
    column: str
    eligible: Callable[[pd.DataFrame], np.ndarray]  # rows of the clean table this error may go in


def _present(col: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: df[col].notna().to_numpy()


_ISO_RE = r"\d{4}-\d{2}-\d{2}"


def _iso_cell(col: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: df[col].str.fullmatch(_ISO_RE).fillna(False).to_numpy(dtype=bool)


def _always(df: pd.DataFrame) -> np.ndarray:
    return np.ones(len(df), bool)


def _with_start(start: str, end: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: (df[start].str.fullmatch(_ISO_RE).fillna(False)).to_numpy(dtype=bool)


_REQUIRED_DATES = [("exclusions", "start_date"), ("offences", "offence_date"), ("asb_incidents", "incident_date"),
                   ("social_care", "start_date"), ("benefits", "start_date"), ("employment", "start_date"),
                   ("domestic_abuse", "incident_date"), ("health", "recorded_on"), ("housing", "recorded_on"),
                   ("needs", "identified_on"), ("programme", "attached_on"), ("people", "date_of_birth")]
_CODE_COLUMNS = [("people", "sex"), ("people", "relationship"), ("school_attendance", "term"),
                 ("exclusions", "exclusion_type"), ("offences", "outcome"), ("asb_incidents", "asb_type"),
                 ("social_care", "episode_type"), ("benefits", "benefit_type"), ("domestic_abuse", "role"),
                 ("domestic_abuse", "source"), ("health", "issue"), ("housing", "issue"), ("needs", "outcome"),
                 ("needs", "headline"), ("programme", "closure_reason")]
_UNKNOWN_CODES = {
    "sex": ["Q", "Male?"], "relationship": ["lodger", "step_parent"], "term": ["winter", "half-term"],
    "exclusion_type": ["fixed_term", "expelled"], "outcome": ["guilty", "closed", "done"],
    "asb_type": ["asbo", "noise"], "episode_type": ["cla", "child_in_need"], "benefit_type": ["JSA2", "PC", "UC"],
    "role": ["witness", "offender"], "source": ["school", "nhs"], "issue": ["flu", "damp"],
    "headline": ["poverty", "school"], "closure_reason": ["completed", "transferred"],
}
_SPELLS = [("social_care", "start_date", "end_date"), ("benefits", "start_date", "end_date"),
           ("employment", "start_date", "end_date"), ("programme", "attached_on", "closed_on")]
_COUNTS = [("school_attendance", "sessions_possible"), ("school_attendance", "sessions_authorised_absence"),
           ("school_attendance", "sessions_unauthorised_absence"), ("exclusions", "sessions")]


def _targets(error_class: str) -> list[_Target]:
    T = _Target
    if error_class in ("unparseable_date", "date_out_of_range"):
        return [T(t, c, _present(c)) for t, c in _REQUIRED_DATES]
    if error_class == "us_format_date":
        return [T(t, c, _iso_cell(c)) for t, c in _REQUIRED_DATES]
    if error_class == "future_date_of_birth":
        return [T("people", "date_of_birth", _present("date_of_birth"))]
    if error_class == "unknown_code":
        return [T(t, c, _present(c)) for t, c in _CODE_COLUMNS]
    if error_class in ("negative_count", "non_integer"):
        return [T(t, c, _present(c)) for t, c in _COUNTS]
    if error_class == "absence_exceeds_possible":
        return [T("school_attendance", "sessions_possible",
                  lambda df: (pd.to_numeric(df["sessions_possible"], errors="coerce") > 0).to_numpy())]
    if error_class == "end_before_start":
        return [T(t, e, _with_start(s, e)) for t, s, e in _SPELLS]
    if error_class == "bad_postcode":
        return [T("people", "postcode", _present("postcode"))]
    if error_class == "bad_upn_check_letter":
        return [T("people", "upn", _present("upn"))]
    if error_class == "bad_nhs_check_digit":
        return [T("people", "nhs_number", _present("nhs_number"))]
    if error_class == "bad_ni_format":
        return [T("people", "ni_number", _present("ni_number"))]
    if error_class == "duplicate_key":
        return [T("people", "person_id", _always), T("programme", "family_id", _always),
                T("school_attendance", "person_id", _always)]
    if error_class == "missing_required_value":
        return [T("people", c, _present(c)) for c in ("first_name", "last_name", "relationship")] + \
            [T("needs", c, _present(c)) for c in ("outcome", "headline")] + \
            [T(t, c, _present(c)) for t, c in _REQUIRED_DATES]
    if error_class == "bad_academic_year":
        return [T("school_attendance", "academic_year", _always)]
    if error_class == "no_person_reference":
        return [T(t, "person_id", _present("person_id")) for t in NATIONAL_EVENT_TABLES]
    raise ValueError(error_class)


def _bad_value(rng: np.random.Generator, error_class: str, table: str, column: str,
               row: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The cell changes for one error and the value the manifest records (that column's new text)."""
    v = row[column]
    pick = lambda xs: xs[int(rng.integers(0, len(xs)))]  # noqa: E731
    if error_class == "unparseable_date":
        new = pick(["n/k", "2019-13-07", "31/02/2019", "TBC", "00/00/0000", "2019-02-30"])
    elif error_class == "us_format_date":
        y, m, d = v[0:4], v[5:7], int(v[8:10])
        d = d if d > 12 else d + 12
        new = f"{m}/{d:02d}/{y}"
    elif error_class == "date_out_of_range":
        # too early for a date of birth or the start of a span (a late start would also put the end before it)
        early = table == "people" or column in ("start_date", "attached_on", "identified_on", "recorded_on")
        new = pick(["1899-12-31", "1850-06-01", "1812-06-24"] + ([] if early else ["2101-01-01", "2199-07-04"]))
    elif error_class == "future_date_of_birth":
        new = f"{int(rng.integers(2090, 2100))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    elif error_class == "unknown_code":
        new = pick(_UNKNOWN_CODES[column])
    elif error_class == "negative_count":
        new = f"-{int(rng.integers(1, 20))}"
    elif error_class == "non_integer":
        new = pick(["12.5", "ten", "3.7", "n/a", "1,5"])
    elif error_class == "absence_exceeds_possible":
        possible = int(v)
        authorised = int(rng.integers(0, possible + 1))
        unauth = possible - authorised + int(rng.integers(1, 15))
        return {"sessions_authorised_absence": str(authorised), "sessions_unauthorised_absence": str(unauth)}, v
    elif error_class == "end_before_start":
        start = pd.Timestamp(row[{"end_date": "start_date", "closed_on": "attached_on"}[column]])
        new = (start - pd.Timedelta(days=int(rng.integers(1, 400)))).strftime("%Y-%m-%d")
    elif error_class == "bad_postcode":
        new = pick(["SW1A 1A", "1AB 2CD", "NG7", "ABCDEFG", "NG7 2RDX", "N1 1"])
    elif error_class == "bad_upn_check_letter":
        letters = [c for c in UPN_LETTERS if c != v[0]]
        new = pick(letters) + v[1:]
    elif error_class == "bad_nhs_check_digit":
        first9 = np.array([int(v[:9])], dtype=np.int64)
        right = int(_nhs_check(first9)[0])
        new = v[:9] + str(pick([d for d in range(10) if d != right]))
    elif error_class == "bad_ni_format":
        new = pick(["QQ123456C", "AB12345C", "AB123456E", "123456789", "DA123456A", "AB 12 34"])
    elif error_class == "missing_required_value":
        new = None
    elif error_class == "bad_academic_year":
        y = int(v[0:4])
        new = pick([f"{y}/{(y + 2) % 100:02d}", f"{y}-{(y + 1) % 100:02d}", f"{y}/{y % 100:02d}"])
    elif error_class == "no_person_reference":
        changes: dict[str, Any] = {"person_id": None}
        if table == "housing":
            changes["family_id"] = None
        return changes, ""
    else:
        raise ValueError(error_class)
    return {column: new}, "" if new is None else new


def _duplicate(rng: np.random.Generator, table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A second copy of a row under the same key (with other cells sometimes changed, as re-keyed data is)."""
    copy = dict(row)
    if table == "school_attendance" and pd.notna(row["sessions_possible"]):
        possible = int(row["sessions_possible"])
        copy["sessions_authorised_absence"] = str(int(rng.integers(0, max(1, possible // 10) + 1)))
        copy["sessions_unauthorised_absence"] = "0"
    elif table == "programme" and rng.random() < 0.5:
        copy["lead_practitioner"] = None
    return copy


def _inject_errors(rng: np.random.Generator, tables: dict[str, pd.DataFrame],
                   rate: float) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Put bad rows of every class into the tables; return the tables and the manifest (row numbers as seen)."""
    total = sum(len(df) for df in tables.values())
    n_errors = max(len(ERROR_CLASSES), int(round(rate * total)))
    per_class = np.full(len(ERROR_CLASSES), n_errors // len(ERROR_CLASSES))
    per_class[: n_errors % len(ERROR_CLASSES)] += 1
    changes_by_column: dict[tuple[str, str], dict[int, Any]] = {}
    taken = {t: np.zeros(len(df), bool) for t, df in tables.items()}
    # people rows of one-person families stay clean (their family's programme / needs rows need them)
    fam = tables["people"]["family_id"]
    taken["people"] |= fam.map(fam.value_counts()).to_numpy() < 2
    records: list[dict[str, Any]] = []  # table, original row position, copy number, column, class, value
    copies: dict[str, list[tuple[int, dict[str, Any]]]] = {t: [] for t in NATIONAL_TABLES}

    for error_class, count in zip(ERROR_CLASSES, per_class):
        targets = [tg for tg in _targets(error_class) if len(tables[tg.table])]
        if not targets:
            continue
        quota = rng.multinomial(int(count), np.full(len(targets), 1 / len(targets)))
        carry = 0
        for ti in rng.permutation(len(targets)):
            tg = targets[int(ti)]
            want = int(quota[ti]) + carry
            if want == 0:
                continue
            candidates = np.flatnonzero(tg.eligible(tables[tg.table]) & ~taken[tg.table])
            picks = np.sort(rng.choice(candidates, size=min(want, len(candidates)), replace=False))
            carry = want - len(picks)
            taken[tg.table][picks] = True
            for pos in picks.tolist():
                row = {c: (None if pd.isna(v) else v) for c, v in tables[tg.table].iloc[pos].items()}
                if error_class == "duplicate_key":
                    copies[tg.table].append((pos, _duplicate(rng, tg.table, row)))
                    for copy_no in (0, len(copies[tg.table])):
                        records.append({"table": tg.table, "pos": pos, "copy": copy_no, "column": tg.column,
                                        "error_class": error_class, "value": row[tg.column]})
                    continue
                changes, value = _bad_value(rng, error_class, tg.table, tg.column, row)
                for col, new in changes.items():
                    changes_by_column.setdefault((tg.table, col), {})[pos] = new
                records.append({"table": tg.table, "pos": pos, "copy": 0, "column": tg.column,
                                "error_class": error_class, "value": value})
    work = {t: df.copy() for t, df in tables.items()}
    for (t, col), cells in sorted(changes_by_column.items()):
        positions = np.fromiter(cells.keys(), dtype=np.int64, count=len(cells))
        values = pd.Series(list(cells.values()), dtype="str")
        work[t].iloc[positions, work[t].columns.get_loc(col)] = values.to_numpy()

    # insert each copy at a random place after its original; map every record to its final row number
    final_tables: dict[str, pd.DataFrame] = {}
    final_row: dict[tuple[str, int, int], int] = {}
    for t, df in work.items():
        n = len(df)
        keys = np.arange(n, dtype=float)
        extra = copies[t]
        if extra:
            src = np.array([p for p, _ in extra])
            ckeys = src + 0.5 + np.floor(rng.random(len(extra)) * (n - src)).astype(float)
            ckeys += (np.arange(len(extra)) + 1) / (len(extra) + 2) / 2  # distinct, still between integers
            df = pd.concat([df, pd.DataFrame([c for _, c in extra], columns=df.columns, dtype="str")],
                           ignore_index=True)
            keys = np.r_[keys, ckeys]
        order = np.argsort(keys, kind="stable")
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        final_tables[t] = df.iloc[order].reset_index(drop=True)
        for rec in records:
            if rec["table"] != t:
                continue
            i = rec["pos"] if rec["copy"] == 0 else n + rec["copy"] - 1
            final_row[(t, rec["pos"], rec["copy"])] = int(position[i]) + 2
    manifest = pd.DataFrame([
        {"table": r["table"], "row": final_row[(r["table"], r["pos"], r["copy"])], "column": r["column"],
         "error_class": r["error_class"], "value": "" if r["value"] is None or pd.isna(r["value"]) else r["value"]}
        for r in records
    ], columns=["table", "row", "column", "error_class", "value"])
    table_order = {t: i for i, t in enumerate(NATIONAL_TABLES)}
    manifest = manifest.iloc[np.lexsort((manifest["row"].to_numpy(), manifest["table"].map(table_order).to_numpy()))]
    manifest = manifest.reset_index(drop=True).astype({"table": "str", "column": "str", "error_class": "str",
                                                       "value": "str", "row": "int64"})
    return final_tables, manifest


def _empty_manifest() -> pd.DataFrame:
    return pd.DataFrame({"table": pd.Series(dtype="str"), "row": pd.Series(dtype="int64"),
                         "column": pd.Series(dtype="str"), "error_class": pd.Series(dtype="str"),
                         "value": pd.Series(dtype="str")})


# ---------------------------------------------------------------------------------------------
# Writing


def _write_text_csv(df: pd.DataFrame, path: Path) -> Path:
    """Text cells verbatim (missing = empty), UTF-8, ``\\n`` line ends, atomically."""
    with atomic_write(path, "w") as fh:
        df.to_csv(fh, index=False, lineterminator="\n", na_rep="")
    return path


_NUM_RE = r"-?\d+(\.\d+)?"
_FIXED_CREATED = dt.datetime(2000, 1, 1)


def _excel_cells(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Cell values for a sheet: ISO dates from 1900 on as dates, numbers as numbers, everything else text."""
    out = df.astype(object).where(df.notna(), None)
    dates = DATE_COLUMNS[table] + (("date_of_birth",) if table in NATIONAL_EVENT_TABLES and "date_of_birth" in df else ())
    for col in dates:
        s = df[col]
        iso = s.str.fullmatch(_ISO_RE).fillna(False)
        parsed = pd.to_datetime(s.where(iso), format="%Y-%m-%d", errors="coerce")
        as_date = iso & parsed.notna() & (parsed >= pd.Timestamp("1900-01-01"))
        values = out[col].to_numpy(dtype=object, copy=True)
        values[as_date.to_numpy()] = parsed[as_date].dt.to_pydatetime()
        out[col] = values
    for col in INTEGER_COLUMNS.get(table, ()) + NUMBER_COLUMNS.get(table, ()):
        s = df[col]
        num = s.str.fullmatch(_NUM_RE).fillna(False).to_numpy(dtype=bool)
        values = out[col].to_numpy(dtype=object, copy=True)
        parsed = pd.to_numeric(s[num], errors="coerce").to_numpy()
        values[num] = [int(x) if float(x).is_integer() else float(x) for x in parsed]
        out[col] = values
    return out


def _write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """One sheet per table; IDs and codes as text cells, dates as date cells; byte-reproducible."""
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(
            tmp, engine="xlsxwriter", date_format="yyyy-mm-dd", datetime_format="yyyy-mm-dd",
            engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False,
                                       "strings_to_numbers": False}},
        ) as xw:
            xw.book.set_properties({"created": _FIXED_CREATED, "author": "tfclaims synth"})
            for table, df in tables.items():
                _excel_cells(table, df).to_excel(xw, sheet_name=table, index=False)
                ws = xw.sheets[table]
                ws.freeze_panes(1, 0)
                ws.set_column(0, len(df.columns) - 1, 14)
    return path


def _write_readme(cohort: SynthCohort, path: Path, xlsx: bool, out_dir: Path) -> Path:
    p = cohort.params
    cmd = (f"tfclaims synth --families {p['families']} --seed {p['seed']} --out {out_dir} --framework {p['framework']} "
           f"--period-end {p['period_end']}" + (" --xlsx" if xlsx else "") +
           (f" --errors {p['error_rate']}" if p["error_rate"] else "") +
           (f" --unlinked {p['unlinked_rate']}" if p.get("unlinked_rate") else "") +
           (" --local-codes" if p.get("local_codes") else ""))
    counts = "\n".join(f"| {t} | {len(df)} |" for t, df in cohort.tables.items())
    by_class = cohort.manifest["error_class"].value_counts().sort_index()
    errors = "\n".join(f"| {c} | {n} |" for c, n in by_class.items()) or "| (none) | 0 |"
    unlinked_param, unlinked_section = "", ""
    if cohort.link_truth is not None:  # (nothing is added without unlinked rows: those files stay as they were)
        unlinked_param = f"| unlinked rate | {p['unlinked_rate']} |\n"
        by_mode = cohort.link_truth.groupby(["table", "mode"]).size().unstack(fill_value=0)
        by_mode = by_mode.reindex(columns=["upn", "nhs_number", "ni_number", "names"], fill_value=0)
        modes = "\n".join(f"| {t} | " + " | ".join(str(int(n)) for n in r) + f" | {int(r.sum())} |"
                          for t, r in by_mode.iterrows()) or "| (none) | 0 | 0 | 0 | 0 | 0 |"
        unlinked_section = f"""
## Unlinked rows (`{LINK_TRUTH_FILE}`: table, file, sheet, row, true person_id, mode)

Event rows that carry no `person_id`, only identifiers (a UPN, NHS or NI number, sometimes two) or
names + date of birth (+ postcode) with typos, as a school census or police extract sends them. The
link stage resolves them; the truth file says who each one is.

| table | upn | nhs_number | ni_number | names | rows |
| --- | --- | --- | --- | --- | --- |
{modes}
"""
    text = f"""# Synthetic cohort

Generated by `tfclaims synth` (tfclaims/synth.py). Not real people.

    {cmd}

| parameter | value |
| --- | --- |
| families | {p['families']} |
| seed | {p['seed']} |
| framework | {p['framework']} |
| period end | {p['period_end']} |
| error rate | {p['error_rate']} |
{unlinked_param}| format | {'xlsx (cohort.xlsx, one sheet per table)' if xlsx else 'csv (one file per table)'} |

## Rows per table

| table | rows |
| --- | --- |
{counts}

## Injected errors (`manifest.csv`: table, file, sheet, row as a person sees it, column, error_class, value)

| error_class | rows |
| --- | --- |
{errors}
{unlinked_section}
`scenarios.csv` lists each family's planned structure, attachment, trajectory and problems (the
generator's intent, not a rules-engine result). See the module docstring of tfclaims/synth.py for the mix.
"""
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return path
