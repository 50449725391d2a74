"""Re-issue after a withdrawal: the corrected claim file, claim register and finance summary of a claim run.

A claim withdrawn after it was issued (an ``invalid`` spot-check verdict, or ``tfclaims ledger
withdraw``) must not reach the Department. The claim run that issued it gets, in its own folder:

- ``claim_file.csv``, ``claim_register.csv`` and ``finance_summary.xlsx`` written again without the
  withdrawn claims (the claim file from the ledger, as ``ledger export`` writes it);
- the files they replace kept beside them as ``claim_file.superseded-1.csv`` (2, 3, ... for later
  re-issues), the finance summary marked SUPERSEDED on every sheet and without its sign-off block;
- the run summary's ``reissues`` list saying when, by whom, which claims and which files.

The withdrawn claims of a run whose files were already submitted are listed on the next claim
run's finance summary ("withdrawals since the last claim"), for the money to be recovered or offset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tfclaims.core import run_files

__all__ = ["REISSUED_FILES", "Reissue", "corrected_register", "next_issue", "superseded_name"]

# the files a re-issue writes again (in this order), each keeping its superseded copy
REISSUED_FILES = (run_files.CLAIM_FILE_CSV, run_files.CLAIM_REGISTER_CSV, run_files.FINANCE_SUMMARY_XLSX)


def superseded_name(name: str, issue: int) -> str:
    """``claim_file.csv`` -> ``claim_file.superseded-1.csv``: the file as it was before re-issue ``issue``."""
    stem, _, ext = name.partition(".")
    return f"{stem}.superseded-{issue}.{ext}"


def next_issue(folder: Path) -> int:
    """The number of the next re-issue in a run's folder (1 for the first)."""
    stem, _, ext = run_files.CLAIM_FILE_CSV.partition(".")
    done = [p.name[len(stem) + len(".superseded-"):-len(ext) - 1] for p in folder.glob(f"{stem}.superseded-*.{ext}")]
    return max((int(n) for n in done if n.isdigit()), default=0) + 1


def corrected_register(register: pd.DataFrame, withdrawn: set[str]) -> pd.DataFrame:
    """The claim register (read as text) without the withdrawn claims."""
    return register.loc[~register["claim_reference"].isin(withdrawn)].reset_index(drop=True)


@dataclass
class Reissue:
    """What a withdrawal did to one claim run's files."""

    run_id: str
    withdrawn: list[str]
    folder: Path | None  # None: the run's folder was not found, nothing re-issued
    issue: int = 0
    written: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    claims_left: int = 0
    on: dt.date | None = None
    why: str = ""  # why nothing was re-issued (folder None)

    def message(self) -> str:
        refs = ", ".join(self.withdrawn)
        if self.folder is None:
            return (f"Claim run {self.run_id}: {refs} withdrawn, but its files were not re-issued ({self.why}): write its corrected claim file with `tfclaims ledger export --run-id {self.run_id} --out FOLDER`.")
        return (f"Claim run {self.run_id}: {refs} withdrawn. Re-issued in {self.folder}: "
                + ", ".join(self.written) + f" ({self.claims_left} claim(s) left). Send these to finance and, if the claim "
                "is not yet submitted, submit the new claim_file.csv; the earlier files are kept as "
                + ", ".join(self.superseded) + " and must not be submitted. If the earlier claim file was already "
                "submitted, the withdrawal is listed on the next claim run's finance summary, to be recovered or offset.")

    def record(self) -> dict[str, object]:
        """For the run summary's ``reissues`` list (no personal data: claim references only)."""
        return {"issue": self.issue, "on": self.on.isoformat() if self.on else None, "withdrawn": self.withdrawn,
                "written": self.written, "superseded": self.superseded, "claims_left": self.claims_left}
