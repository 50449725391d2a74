"""The reproducible internal-audit sample of one claim run: its size, the allocation across routes,
the seeded draw, the command that reproduces it, and ``spot_check_sample.csv``.

The claims of one claim run are the population (N claims). ``n = min(max(min_n, ceil(rate * N)), N)``
claims are drawn from the claims whose route is not ``discretionary``, stratified by route with
proportional allocation by largest remainder; every ``discretionary`` claim is then added on top of
``n``. Within each route the draw is ``numpy.random.default_rng(seed)`` permuting the claims sorted by
claim reference, one generator taken through the routes in name order, so the same claims and seed
give the same sample on any machine.
"""

from __future__ import annotations

import math
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from tfclaims.core.config import SpotCheckSettings
from tfclaims.core import run_files
from tfclaims.core.errors import InputError
from tfclaims.core.write import validate_output, write_csv
from tfclaims.schemas.claim import ROUTES
from tfclaims.schemas.spot_check import DISCRETIONARY_STRATUM, SAMPLE_COLUMNS, SpotCheckSample
from tfclaims.spot_check.claim_dir import check_claim_references

__all__ = [
    "DEFAULT_MIN",
    "DEFAULT_RATE",
    "SampleResult",
    "allocate_largest_remainder",
    "draw_sample",
    "new_seed",
    "reproduce_command",
    "sample_size",
    "write_sample_csv",
]

# the defaults are the council config's (``spot_check.rate`` and ``spot_check.min``): one place
DEFAULT_RATE = SpotCheckSettings().rate
DEFAULT_MIN = SpotCheckSettings().min


@dataclass(frozen=True)
class SampleResult:
    """A drawn sample and how it was drawn (everything the Method sheet shows)."""

    sample: pd.DataFrame  # spot_check_sample: claim_reference, family_id, route, stratum, draw_order
    strata: pd.DataFrame  # stratum, population, allocated, drawn
    population_size: int  # N: every claim of the run
    sample_size: int  # n: drawn from the non-discretionary claims
    discretionary_count: int  # added on top of n
    rate: float
    min_n: int
    seed: int
    seed_generated: bool = False
    numpy_version: str = field(default_factory=lambda: np.__version__)

    @property
    def total(self) -> int:
        return len(self.sample)


def sample_size(population: int, rate: float, min_n: int) -> int:
    """``max(min_n, ceil(rate * N))``, at most N. ``rate`` is taken as the decimal it is written as,
    so 0.7 x 10 is 7, not ``ceil(7.000000000000001)`` = 8."""
    wanted = math.ceil(Fraction(str(rate)) * population)
    return min(population, max(min_n, wanted))


def allocate_largest_remainder(population: Mapping[str, int], n: int) -> dict[str, int]:
    """Allocate ``n`` across strata in proportion to their sizes (Hamilton / largest remainder).

    Each stratum first gets the whole part of ``n * N_h / N``; the seats left go one each to the
    largest fractional parts, ties broken by stratum name (alphabetical). Exact arithmetic.
    """
    total = sum(population.values())
    if n < 0 or n > total:
        raise ValueError(f"cannot allocate {n} of {total}")
    if total == 0:
        return {name: 0 for name in population}
    quotas = {name: Fraction(n * size, total) for name, size in population.items()}
    allocated = {name: math.floor(q) for name, q in quotas.items()}
    left = n - sum(allocated.values())
    by_remainder = sorted(population, key=lambda name: (-(quotas[name] - allocated[name]), name))
    for name in by_remainder[:left]:
        allocated[name] += 1
    return allocated


def new_seed() -> int:
    """A fresh random seed, small enough to type (0 .. 2**32 - 1)."""
    return secrets.randbelow(2**32)


def draw_sample(register: pd.DataFrame, rate: float = DEFAULT_RATE, min_n: int = DEFAULT_MIN, seed: int | None = None) -> SampleResult:
    """Draw the internal-audit sample from a claim register (one row per claim of the run).

    See the module docstring for the rule. ``seed=None`` draws a fresh seed (``seed_generated``).
    """
    if not (0 < rate <= 1):
        raise InputError(f"--sample-rate {rate}: must be more than 0 and at most 1")
    if min_n < 0:
        raise InputError(f"--sample-min {min_n}: must be 0 or more")
    generated = seed is None
    if seed is None:
        seed = new_seed()
    if seed < 0:
        raise InputError(f"--seed {seed}: must be 0 or more")
    missing = [c for c in ("claim_reference", "family_id", "route") if c not in register.columns]
    if missing:
        raise InputError(f"claim register: missing column(s): {', '.join(missing)}")
    check_claim_references(register, "claim register")
    bad_route = ~register["route"].isin(ROUTES)
    if bad_route.any():
        raise InputError(f"claim register: route {register.loc[bad_route, 'route'].iloc[0]!r} is not one of {', '.join(ROUTES)}")

    claims = (
        register.loc[:, ["claim_reference", "family_id", "route"]]
        .astype("str")
        .sort_values("claim_reference", kind="mergesort")
        .reset_index(drop=True)
    )
    population = len(claims)
    is_discretionary = claims["route"].eq("discretionary")
    drawable = claims.loc[~is_discretionary].reset_index(drop=True)
    discretionary = claims.loc[is_discretionary].reset_index(drop=True)
    n = min(sample_size(population, rate, min_n), len(drawable))

    routes = sorted(drawable["route"].unique())
    sizes = {r: int((drawable["route"] == r).sum()) for r in routes}
    allocation = allocate_largest_remainder(sizes, n)
    rng = np.random.default_rng(seed)
    drawn_parts = []
    for route in routes:  # name order: part of the reproducible procedure
        stratum = drawable.loc[drawable["route"] == route].reset_index(drop=True)  # by claim_reference
        order = rng.permutation(len(stratum))[: allocation[route]]
        drawn_parts.append(stratum.iloc[order].assign(stratum=route))
    drawn = pd.concat(drawn_parts, ignore_index=True) if drawn_parts else claims.iloc[0:0].assign(stratum="")
    certain = discretionary.assign(stratum=DISCRETIONARY_STRATUM)
    sample = pd.concat([drawn, certain], ignore_index=True)
    sample = sample.assign(draw_order=np.arange(1, len(sample) + 1, dtype="int64"))
    sample = sample.loc[:, list(SAMPLE_COLUMNS)].astype({c: "str" for c in SAMPLE_COLUMNS[:4]})
    sample = validate_output(SpotCheckSample, sample, "spot_check_sample")

    strata_rows = [
        {"stratum": r, "population": sizes[r], "allocated": allocation[r], "drawn": int((drawn["stratum"] == r).sum())}
        for r in routes
    ]
    strata_rows.append(
        {
            "stratum": DISCRETIONARY_STRATUM,
            "population": len(discretionary),
            "allocated": len(discretionary),
            "drawn": len(discretionary),
        }
    )
    strata = pd.DataFrame(strata_rows, columns=["stratum", "population", "allocated", "drawn"])
    return SampleResult(
        sample=sample,
        strata=strata,
        population_size=population,
        sample_size=n,
        discretionary_count=len(discretionary),
        rate=float(rate),
        min_n=int(min_n),
        seed=int(seed),
        seed_generated=generated,
    )


def reproduce_command(claim_dir: Path | str, out_dir: Path | str, sample: SampleResult, *, absolute: bool = True) -> str:
    """The ``tfclaims spot-check`` command that draws ``sample`` again; the folders made absolute, or
    with ``absolute=False`` as given (the workbook shows them relative, never where they are on disk)."""

    def shown(folder: Path | str) -> str:
        return str(Path(folder).resolve()) if absolute else Path(folder).as_posix()

    return shlex.join(
        [
            "tfclaims",
            "spot-check",
            "--claim-dir",
            shown(claim_dir),
            "--out",
            shown(out_dir),
            "--sample-rate",
            repr(sample.rate),
            "--sample-min",
            str(sample.min_n),
            "--seed",
            str(sample.seed),
        ]
    )


def write_sample_csv(sample: SampleResult, out_dir: Path | str) -> Path:
    frame = validate_output(SpotCheckSample, sample.sample, "spot_check_sample")
    return write_csv(frame, Path(out_dir) / run_files.SPOT_CHECK_SAMPLE_CSV)
