"""Where the product's own files live (built-in frameworks, code lists, sample cohort)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TFCLAIMS_DATA_DIR", REPO_ROOT / "data"))
REPORTS_DIR = Path(os.environ.get("TFCLAIMS_REPORTS_DIR", REPO_ROOT / "reports"))

FRAMEWORKS_DIR = DATA_DIR / "frameworks"
LOCAL_PLANS_DIR = DATA_DIR / "local_plans"
REFERENCE_DIR = DATA_DIR / "reference"
PRIVACY_DIR = DATA_DIR / "privacy"
SAMPLE_COHORT_DIR = DATA_DIR / "sample"
