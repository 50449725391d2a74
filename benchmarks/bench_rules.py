"""Benchmark of the rules engine: identify + track on a synthetic-sized cohort of random data.

    .venv/bin/python benchmarks/bench_rules.py --people 1000000 --repeat 3

Builds typed tables as ingest/link hand them over (str ids, datetime64[ns] dates, Int64 counts,
lineage columns), ~2.4 people per family, ~3 event rows per person, then times
``identify(cohort, fw, A)`` + ``track(cohort, fw, A)`` (a fresh context each time, as a run does),
and prints the median of the repeats and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np
import pandas as pd

from tfclaims.core.cohort import Cohort
from tfclaims.rules.frameworks import load_framework
from tfclaims.rules.identify import clear_context_cache, identify
from tfclaims.rules.track import track

AS_OF = pd.Timestamp("2021-03-31")


def ids(prefix: str, n: int) -> pd.Series:
    return prefix + pd.Series(np.arange(n)).astype("str").str.zfill(7)


def days(rng: np.random.Generator, n: int, lo: str, span: int) -> np.ndarray:
    return (np.datetime64(lo, "ns") + rng.integers(0, span, n).astype("timedelta64[D]")).astype("datetime64[ns]")


def lineage(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    n = len(frame)
    frame["source_file"] = pd.array(np.full(n, f"{name}.csv", dtype=object), dtype="str")
    frame["source_sheet"] = pd.array(np.full(n, None, dtype=object), dtype="str")
    frame["source_row"] = pd.array(np.arange(2, n + 2), dtype="Int64")
    return frame


def codes(rng, values, n, p=None) -> pd.array:
    return pd.array(np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p)], dtype="str")


def build(n_people: int, seed: int = 1) -> Cohort:
    rng = np.random.default_rng(seed)
    n_fam = int(n_people / 2.38)
    fam_of = np.sort(rng.integers(0, n_fam, n_people))
    person_id = ids("P", n_people)
    family_id = ids("F", n_fam)
    rel = np.where(rng.random(n_people) < 0.55, "child", "parent").astype(object)
    extra = rng.random(n_people)
    rel[extra < 0.05] = "non_resident_parent"
    rel[(extra >= 0.05) & (extra < 0.08)] = "other_adult"
    rel[(extra >= 0.08) & (extra < 0.09)] = "expectant_parent"
    dob = np.where(rel == "child", days(rng, n_people, "2003-01-01", 6500), days(rng, n_people, "1960-01-01", 15000))
    people = lineage(pd.DataFrame({
        "person_id": pd.array(person_id, dtype="str"),
        "family_id": pd.array(family_id.to_numpy()[fam_of], dtype="str"),
        "first_name": pd.array(np.full(n_people, "Alex", dtype=object), dtype="str"),
        "last_name": pd.array(np.full(n_people, "Smith", dtype=object), dtype="str"),
        "date_of_birth": dob.astype("datetime64[ns]"),
        "relationship": pd.array(rel, dtype="str"),
    }), "people")
    pid = people["person_id"].to_numpy(dtype=object)
    children = np.flatnonzero(rel == "child")
    adults = np.flatnonzero(rel != "child")

    def who(n, pool=None):
        idx = rng.integers(0, n_people, n) if pool is None else pool[rng.integers(0, len(pool), n)]
        return pd.array(pid[idx], dtype="str")

    def spells(n, pool, lo="2018-01-01"):
        s = days(rng, n, lo, 1300)
        e = s + rng.integers(0, 500, n).astype("timedelta64[D]")
        e[rng.random(n) < 0.3] = np.datetime64("NaT")
        return s, e.astype("datetime64[ns]")

    scale = n_people / 1_000_000
    k = lambda x: int(x * scale)  # noqa: E731
    tables: dict[str, pd.DataFrame] = {"people": people}
    tables["offences"] = pd.DataFrame({"person_id": who(k(450_000)), "offence_date": days(rng, k(450_000), "2018-01-01", 1300), "outcome": codes(rng, ["proven", "not_proven", "pending"], k(450_000), [0.7, 0.2, 0.1])})
    tables["asb_incidents"] = pd.DataFrame({"person_id": who(k(250_000)), "incident_date": days(rng, k(250_000), "2018-01-01", 1300), "asb_type": codes(rng, ["warning", "other"], k(250_000))})
    n_att = k(800_000)
    tables["school_attendance"] = pd.DataFrame({
        "person_id": who(n_att, children),
        "academic_year": codes(rng, ["2018/19", "2019/20", "2020/21"], n_att),
        "term": codes(rng, ["autumn", "spring", "summer"], n_att),
        "sessions_possible": pd.array(rng.integers(0, 130, n_att), dtype="Int64"),
        "sessions_authorised_absence": pd.array(rng.integers(0, 8, n_att), dtype="Int64"),
        "sessions_unauthorised_absence": pd.array(rng.integers(0, 8, n_att), dtype="Int64"),
    }).drop_duplicates(["person_id", "academic_year", "term"], ignore_index=True)
    tables["exclusions"] = pd.DataFrame({"person_id": who(k(100_000), children), "start_date": days(rng, k(100_000), "2018-01-01", 1300), "exclusion_type": codes(rng, ["suspension", "permanent"], k(100_000), [0.95, 0.05])})
    s, e = spells(k(200_000), children)
    tables["social_care"] = pd.DataFrame({"person_id": who(k(200_000), children), "episode_type": codes(rng, ["early_help", "cin", "cp", "lac"], k(200_000)), "start_date": s, "end_date": e})
    s, e = spells(k(500_000), adults)
    tables["benefits"] = pd.DataFrame({"person_id": who(k(500_000), adults), "benefit_type": codes(rng, ["JSA", "UC_SEARCHING", "ESA", "IS", "UC_WORKING", "CB", "HB"], k(500_000)), "start_date": s, "end_date": e})
    s, e = spells(k(300_000), adults)
    tables["employment"] = pd.DataFrame({"person_id": who(k(300_000), adults), "start_date": s, "end_date": e, "hours_per_week": pd.array(rng.uniform(5, 40, k(300_000)), dtype="Float64")})
    tables["domestic_abuse"] = pd.DataFrame({"person_id": who(k(150_000)), "incident_date": days(rng, k(150_000), "2018-01-01", 1300), "role": codes(rng, ["victim", "perpetrator"], k(150_000)), "source": codes(rng, ["police"], k(150_000))})
    tables["health"] = pd.DataFrame({"person_id": who(k(150_000)), "recorded_on": days(rng, k(150_000), "2018-01-01", 1300), "issue": codes(rng, ["mental_health", "physical_health", "maternity", "substance_misuse"], k(150_000))})
    n_h = k(50_000)
    tables["housing"] = pd.DataFrame({"family_id": pd.array(family_id.to_numpy()[rng.integers(0, n_fam, n_h)], dtype="str"), "person_id": pd.array(np.full(n_h, None, dtype=object), dtype="str"), "recorded_on": days(rng, n_h, "2018-01-01", 1300), "issue": codes(rng, ["homeless", "rent_arrears"], n_h), "resolved_on": np.full(n_h, np.datetime64("NaT"), dtype="datetime64[ns]")})
    n_n = k(100_000)
    outcome = codes(rng, ["open", "met", "not_met", "withdrawn"], n_n)
    ident = days(rng, n_n, "2018-06-01", 1000)
    out_on = (ident + rng.integers(30, 400, n_n).astype("timedelta64[D]")).astype("datetime64[ns]")
    out_on[np.isin(np.asarray(outcome, dtype=object), ["open", "withdrawn"])] = np.datetime64("NaT")
    tables["needs"] = pd.DataFrame({"family_id": pd.array(family_id.to_numpy()[rng.integers(0, n_fam, n_n)], dtype="str"), "person_id": pd.array(np.full(n_n, None, dtype=object), dtype="str"), "headline": codes(rng, ["crime_asb", "health", "education", "worklessness"], n_n), "identified_on": ident, "outcome": outcome, "outcome_on": out_on})
    attached = np.flatnonzero(rng.random(n_fam) < 0.6)
    att = days(rng, len(attached), "2019-01-01", 700)
    closed = (att + rng.integers(60, 500, len(attached)).astype("timedelta64[D]")).astype("datetime64[ns]")
    closed[rng.random(len(attached)) < 0.5] = np.datetime64("NaT")
    tables["programme"] = pd.DataFrame({"family_id": pd.array(family_id.to_numpy()[attached], dtype="str"), "attached_on": att, "lead_practitioner": codes(rng, ["Sam", "Jo"], len(attached)), "whole_family_assessment_on": att, "action_plan_on": att, "closed_on": closed, "discretion_note": pd.array(np.full(len(attached), None, dtype=object), dtype="str")})
    for name in list(tables):
        if name != "people":
            tables[name] = lineage(tables[name], name)
    return Cohort(tables)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--framework", default="tf-phase2")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    c = build(args.people)
    events = sum(len(t) for n, t in c.tables.items() if n not in ("people", "programme"))
    print(f"built {args.people:,} people, {c.people['family_id'].nunique():,} families, {events:,} event rows, "
          f"{len(c['programme']):,} attached in {time.perf_counter() - t0:.1f}s; RSS so far {peak_rss_gb():.2f} GB", flush=True)
    fw = load_framework(args.framework)
    times, parts, cpu = [], [], []
    for _ in range(args.repeat):
        clear_context_cache()  # each repeat codes the cohort afresh, as a run does
        c1 = time.process_time()
        t1 = time.perf_counter()
        r1 = identify(c, fw, AS_OF)
        t2 = time.perf_counter()
        r2 = track(c, fw, AS_OF)
        t3 = time.perf_counter()
        times.append(t3 - t1)
        cpu.append(time.process_time() - c1)
        parts.append((t2 - t1, t3 - t2))
        print(f"  identify {t2 - t1:.2f}s ({len(r1.eligibility):,} families, {int(r1.eligibility.eligible.sum()):,} eligible, {len(r1.evidence):,} evidence rows); "
              f"track {t3 - t2:.2f}s ({len(r2.families):,} attached, {len(r2.outcomes):,} outcomes, {int(r2.families.ssp.sum()):,} SSP, "
              f"{int(r2.families.continuous_employment.sum()):,} CE)", flush=True)
    print(f"identify+track median of {args.repeat}: {statistics.median(times):.2f}s (CPU {statistics.median(cpu):.2f}s: on shared "
          f"cores compare this too, wall time includes waiting for the CPU); peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    sys.exit(main())
