"""Test session set-up: nothing a test writes lands in the repository's reports/ folder."""

import os
import tempfile

# Before tfclaims is imported: the commands' workspace (default ledger, audit trail, run folders)
# is a temporary one, and commands run as plain Python unless a test asks for Prefect.
if "TFCLAIMS_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="tfclaims-test-workspace-")
    with open(os.path.join(_home, "tfclaims.toml"), "w", encoding="utf-8") as _fh:
        _fh.write('[workspace]\nreports = "reports"\n')
    os.environ["TFCLAIMS_HOME"] = _home
os.environ.setdefault("TFCLAIMS_ORCHESTRATOR", "none")
