"""``tfclaims synth``: write a seeded synthetic cohort (with ``--errors``, a manifest of injected bad rows;
with ``--unlinked``, event rows that carry identifiers only, and the truth about who they are)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from tfclaims.cli import app
from tfclaims.core.config import DEFAULT_FRAMEWORK
from tfclaims.core.local_codes import DeclaredCodes
from tfclaims.core.resources import LOCAL_PLANS_DIR
from tfclaims.synth.generate import FRAMEWORKS, LINK_TRUTH_FILE, SYNTH_SUBDIR, generate_cohort, write_cohort

EXAMPLE_PLAN = LOCAL_PLANS_DIR / "example-council.yaml"  # the plan whose local codes --local-codes uses


@app.command("synth")
def synth(
    families: int = typer.Option(..., "--families", min=1, metavar="N", help="Number of families (households) to generate."),
    seed: int = typer.Option(..., "--seed", metavar="N", help="Random seed: the same seed and arguments give identical files."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder to write the cohort into."),
    framework: str = typer.Option(DEFAULT_FRAMEWORK, "--framework", metavar="NAME", help=f"One of: {', '.join(FRAMEWORKS)}."),
    period_end: str = typer.Option(None, "--period-end", metavar="DATE", show_default="a date inside the programme",
                                   help="The period end the cohort is made for."),
    xlsx: bool = typer.Option(False, "--xlsx", help="Write one workbook cohort.xlsx instead of CSV files."),
    errors: float = typer.Option(0.0, "--errors", min=0.0, max=0.5, metavar="RATE", help="Share of rows to make bad (manifest in synth/)."),
    unlinked: float = typer.Option(
        0.0, "--unlinked", min=0.0, max=1.0, metavar="RATE",
        help="Share of event rows that carry only identifiers (UPN / NHS / NI number, or names + date of birth "
             "with typos) instead of person_id; who they are is in synth/link_truth.csv.",
    ),
    local_codes: bool = typer.Option(
        False, "--local-codes",
        help="Also write local_events and local_spells, coded with the local codes of the example plan "
             "(data/local_plans/example-council.yaml); run them with --plan on that plan.",
    ),
) -> None:
    """Write a realistic, seeded synthetic cohort of the 13 national contract tables (and, with --local-codes, the local ones)."""
    if framework not in FRAMEWORKS:
        raise typer.BadParameter(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}",
                                 param_hint="--framework")
    end: dt.date | None = None
    if period_end is not None:
        try:
            end = dt.date.fromisoformat(period_end)
        except ValueError:
            raise typer.BadParameter(f"{period_end!r} is not a date (YYYY-MM-DD)", param_hint="--period-end") from None
    cohort = generate_cohort(families, seed, framework=framework, period_end=end, error_rate=errors,
                             unlinked_rate=unlinked, local_codes=_example_plan_codes() if local_codes else None)
    write_cohort(cohort, out, xlsx=xlsx)
    rows = sum(len(df) for df in cohort.tables.values())
    typer.echo(f"wrote {len(cohort.tables['people'])} people in {families} families, {rows} rows in {len(cohort.tables)} tables "
               f"({'cohort.xlsx' if xlsx else 'CSV'}) to {out}")
    if len(cohort.manifest):
        typer.echo(f"injected {len(cohort.manifest)} bad rows: see {out / 'synth' / 'manifest.csv'}")
    if cohort.link_truth is not None:
        typer.echo(f"{len(cohort.link_truth)} event rows carry identifiers only (no person_id): "
                   f"see {out / SYNTH_SUBDIR / LINK_TRUTH_FILE}")


def _example_plan_codes() -> DeclaredCodes:
    from tfclaims.rules.frameworks import load_plan

    return load_plan(EXAMPLE_PLAN).declared_local_codes()
