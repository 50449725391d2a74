"""One success measure judged on its own, for the measure tests: the status, the sentence and the
evidence of a headline for family F1 at an as-of date, with the families' attachment and closure
dates taken from ``programme`` rows, exactly as track hands them to the measure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort_builder import cohort
from tfclaims.rules.frameworks import Framework
from tfclaims.rules.indicators import NAT, RulesContext, Scope, as_ns
from tfclaims.rules.kernel import MET, STATUS_NAMES
from tfclaims.rules.measures import MEASURE_REGISTRY, HeadlineFrame, MeasureContext


def judge_measure(fw: Framework, headline: str, a: str, prog: list[dict], people: list[dict], needs_rows: bool | None = None,
                  **tables) -> tuple[str, str, pd.DataFrame]:
    """(status, detail, evidence) of ``headline`` for family F1 by its measure alone.
    ``needs_rows``: True = a needs row of the headline counts at A, False = none, None = needs not supplied."""
    ctx = RulesContext(cohort(people, programme=prog, **tables))
    A = np.datetime64(pd.Timestamp(a), "ns")
    n_h = len(fw.headlines)
    h = list(fw.headlines).index(headline)
    spec = fw.headlines[headline]
    per_fam = {}
    for col in ("attached_on", "closed_on"):
        arr = np.full(ctx.n_families, NAT)
        arr[ctx.families.get_indexer([p["family_id"] for p in prog])] = as_ns(pd.Series([p[col] for p in prog]))
        per_fam[col] = arr
    att = np.where(per_fam["attached_on"] <= A, per_fam["attached_on"], NAT)
    fams = np.flatnonzero(~np.isnat(att))
    keys = np.sort(fams * n_h + h)
    needs_keys = None if needs_rows is None else (keys if needs_rows else keys[:0])
    mc = MeasureContext(ctx, A, att, per_fam["closed_on"], Scope(ctx, np.where(np.isnat(att), NAT, A)), n_h, needs_keys)
    measure = MEASURE_REGISTRY[spec.measure]
    reasons = measure.evaluate(mc, HeadlineFrame(spec, h, keys, keys // n_h))
    status, detail = reasons.decide(keys)
    if status[0] == MET:
        detail = measure.met_detail(mc, spec, keys // n_h)
    evidence = pd.concat(reasons.evidence, ignore_index=True) if reasons.evidence else pd.DataFrame()
    return str(STATUS_NAMES[status[0]]), str(np.broadcast_to(detail, len(keys))[0]), evidence
