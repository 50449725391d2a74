"""Where the product's own files live: the package data ``tfclaims.data`` (built-in frameworks,
code lists, purposes register, link model, sample cohort), read through ``importlib.resources``.

In a clone of the repository this is the top-level ``data/`` folder (mapped into the package);
in an installed wheel it is ``site-packages/tfclaims/data``. Nothing is ever written here: a
council's state lives in its workspace (``tfclaims.core.workspace``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import IO, Any

import yaml

DATA_DIR = Path(str(files("tfclaims.data")))

FRAMEWORKS_DIR = DATA_DIR / "frameworks"
LOCAL_PLANS_DIR = DATA_DIR / "local_plans"
REFERENCE_DIR = DATA_DIR / "reference"
PRIVACY_DIR = DATA_DIR / "privacy"
LINK_MODEL_DIR = DATA_DIR / "link_model"
SAMPLE_COHORT_DIR = DATA_DIR / "sample"


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it: same results, about 6x faster


def safe_yaml(text: str | bytes | IO[str]) -> Any:
    """YAML read safely (plain data only: no tags that build Python objects)."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, C or Python
