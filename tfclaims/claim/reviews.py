"""Which claim runs put a family under discretion review: what ``tfclaims ledger approve`` checks first.

A discretionary approval is only ever used for a family that a claim run decided ``discretion_review``
(outcomes not met, a discretion note recorded). The ledger does not keep those decisions; each claim
run writes them to its ``claim_decisions.csv`` and names that file, with its SHA-256, in the audit
trail. So the search reads the audit trail's succeeded ``claim`` and ``run`` records under the
framework (dry runs included) and the decision files they name, each checked against its recorded
hash (a file that is gone or was changed since is not trusted, and is reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tfclaims.audit.trail import iter_records
from tfclaims.core.write import sha256_file

CLAIM_COMMANDS = frozenset({"claim", "run"})
DECISIONS_FILE = "claim_decisions.csv"
REVIEW_REASON = "discretion_review"


@dataclass(frozen=True)
class ReviewSearch:
    """The answer: the first claim run that listed the family for discretion review, if any."""

    run_id: str | None
    runs_searched: int
    unusable_files: list[str] = field(default_factory=list)  # decision files missing or changed since their run

    @property
    def found(self) -> bool:
        return self.run_id is not None


def _decisions_output(rec: Mapping[str, Any], framework: str) -> Mapping[str, Any] | None:
    """The ``claim_decisions.csv`` output of a succeeded claim run under ``framework``, else None."""
    if rec.get("command") not in CLAIM_COMMANDS or rec.get("status") != "succeeded":
        return None
    if (rec.get("params") or {}).get("framework") != framework:
        return None
    return next((o for o in rec.get("outputs") or [] if Path(str(o.get("path"))).name == DECISIONS_FILE), None)


def _usable(output: Mapping[str, Any]) -> Path | None:
    path = Path(str(output["path"]))
    if not path.is_file() or sha256_file(path) != output.get("sha256"):
        return None
    return path


def _lists_for_review(path: Path, family_id: str) -> bool:
    decisions = pd.read_csv(path, dtype="str", keep_default_na=False, usecols=["family_id", "reason"])
    return bool(((decisions["family_id"].str.strip() == family_id) & (decisions["reason"] == REVIEW_REASON)).any())


def find_discretion_review(audit_path: Path | str, family_id: str, framework: str) -> ReviewSearch:
    """The first claim run recorded in ``audit_path`` whose decisions list ``family_id`` as ``discretion_review``."""
    family_id = family_id.strip()
    searched = 0
    unusable: list[str] = []
    for rec in iter_records(audit_path):
        output = _decisions_output(rec, framework)
        if output is None:
            continue
        searched += 1
        path = _usable(output)
        if path is None:
            unusable.append(str(output["path"]))
        elif _lists_for_review(path, family_id):
            return ReviewSearch(str(rec.get("run_id")), searched, unusable)
    return ReviewSearch(None, searched, unusable)
