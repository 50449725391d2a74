"""The ``tfclaims`` command as a benchmark's child process runs it, and the peak memory it reports.

``COMMAND`` is ``python -c`` code: it runs the command line given after it as the installed
``tfclaims`` does (its entry point, which may restart itself once in the same process), or an
older installation's ``main``, and prints ``MAXRSS <KiB>`` to stderr whatever happens.
"""

from __future__ import annotations

COMMAND = r"""
import resource, sys
sys.argv = ["tfclaims"] + sys.argv[1:]
try:
    from tfclaims.launch import run  # the installed command's entry point (it may restart itself once)
except ImportError:  # an installation from before the entry point had its own module
    from tfclaims.cli import main as run
try:
    run()
finally:
    print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_rss_mb(stderr: str) -> float:
    """The child's peak RSS in MiB, from the ``MAXRSS`` line ``COMMAND`` prints."""
    return max(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("MAXRSS")) / 1024
