"""Helpers shared by the command modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfclaims.paths import REPORTS_DIR


def resolve_out(out: Path | None, run_id: str) -> Path:
    return Path(out) if out is not None else REPORTS_DIR / run_id


def print_counts(out: Path, tables: dict[str, Any] | None = None) -> None:
    """The per-table counts (read = accepted + quarantined) and where the outputs are."""
    if tables is None:
        tables = json.loads((out / "run_summary.json").read_text(encoding="utf-8"))["tables"]
    print(f"{'table':<20}{'read':>10}{'accepted':>10}{'quarantined':>12}")
    for table, c in tables.items():
        print(f"{table:<20}{c['read']:>10}{c['accepted']:>10}{c['quarantined']:>12}")
    print(f"outputs: {out}")
