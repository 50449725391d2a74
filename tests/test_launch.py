"""The installed command starts itself again once with glibc's huge pages, and only where that applies."""

import os
import subprocess
import sys

import pytest

from tfclaims.launch import HUGE_PAGES, TUNABLES_ENV, huge_pages_environment

# The child's command line is replaced by this code: it reports the tunables it runs with, and how
# often it ran (its output shows every run, the one before the restart included).
REPORT = (
    "import os, sys\n"
    "import tfclaims.cli\n"
    "tfclaims.cli.main = lambda: print('main ran with', repr(os.environ.get('GLIBC_TUNABLES')), 'argv', sys.argv[1:])\n"
    "from tfclaims.launch import run\n"
    "run()\n"
)


def _glibc_with_hugetlb() -> bool:
    name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "").partition(" ")
    return name == "glibc" and tuple(int(x) for x in version.split(".")[:2]) >= (2, 35)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _glibc_with_hugetlb()), reason="glibc 2.35+ on Linux only")
def test_the_command_restarts_once_with_huge_pages_keeping_its_arguments(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != TUNABLES_ENV}
    proc = subprocess.run([sys.executable, "-c", REPORT, "claim", "--period-end", "2020-03-31"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"main ran with {HUGE_PAGES!r} argv ['claim', '--period-end', '2020-03-31']"]


def test_a_tunables_setting_of_the_users_own_even_empty_is_left_alone(tmp_path):
    for value in ("", "glibc.malloc.arena_max=2"):
        proc = subprocess.run([sys.executable, "-c", REPORT, "--version"], env={**os.environ, TUNABLES_ENV: value}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [f"main ran with {value!r} argv ['--version']"]
    assert huge_pages_environment({TUNABLES_ENV: ""}) is None


def test_exit_codes_and_messages_come_through_the_restart(tmp_path):
    sample = os.path.join(os.path.dirname(__file__), "..", "data", "sample")
    proc = subprocess.run([sys.executable, "-m", "tfclaims", "claim", "--input", sample, "--period-end", "2021-03-31x"], cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != TUNABLES_ENV}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--period-end '2021-03-31x': give a date as YYYY-MM-DD" in proc.stderr
