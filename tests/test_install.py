"""The product installs like software: one top-level package, its data inside it, nothing written into it.

The wheel is built from this checkout; its files are unpacked into a folder of their own (as pip
installs them) and run from an empty folder with this environment's dependencies, so the
installed copy, not the checkout, is what runs. ``.ci/run`` does the same with a fresh virtual
environment and Prefect.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # built from a copy of the sources, so no build/ folder left in the checkout can leak into the wheel
    src = tmp_path_factory.mktemp("src") / "tfclaims"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "reports", ".prefect", "__pycache__",
                                                             ".pytest_cache", "benchmarks"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("tfclaims-*.whl")
    return path


def test_the_wheel_holds_one_top_level_package_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"tfclaims"}
    for needed in ("tfclaims/flows/claim.py", "tfclaims/schemas/inputs.py", "tfclaims/data/frameworks/tf-phase2.yaml",
                   "tfclaims/data/reference/codes.yaml", "tfclaims/data/privacy/purposes.yaml", "tfclaims/data/sample/people.csv",
                   "tfclaims/data/link_model/splink_model.json", "tfclaims/data/local_plans/example-council.yaml"):
        assert needed in names
    assert not any(n.startswith(("tfclaims/tests/", "tests/", "flows/", "schemas/", "data/")) for n in names)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if "__pycache__" not in p.parts}


def test_the_installed_copy_runs_the_demo_from_an_empty_folder_and_writes_nothing_into_itself(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    before = _files(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TFCLAIMS_HOME", "PREFECT_HOME")}
    env.update(PYTHONPATH=str(site), TFCLAIMS_ORCHESTRATOR="none")
    check = subprocess.run([sys.executable, "-c", "import tfclaims, tfclaims.flows, tfclaims.schemas; print(tfclaims.__file__)"],
                           cwd=empty, env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == str(site / "tfclaims" / "__init__.py"), check.stderr
    version = subprocess.run([sys.executable, "-m", "tfclaims", "--version"], cwd=empty, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("tfclaims "), version.stderr
    demo = subprocess.run([sys.executable, "-m", "tfclaims", "demo"], cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    made = empty / "tfclaims-demo"
    assert (made / "tfclaims.toml").is_file()
    assert (made / "reports" / "demo" / "claim_file.csv").is_file() and (made / "reports" / "demo" / "spot_check.xlsx").is_file()
    assert str(made / "reports" / "demo") in demo.stdout  # the paths it prints are absolute
    assert _files(site) == before
    # without a workspace, a command that needs one says how to make one (exit 2), and writes nothing
    other = tmp_path / "other"
    other.mkdir()
    refused = subprocess.run([sys.executable, "-m", "tfclaims", "ledger", "show"], cwd=other, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "tfclaims init" in refused.stderr
    assert list(other.iterdir()) == []
