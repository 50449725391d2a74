"""Test session set-up: nothing a test writes lands in the repository's reports/ folder."""

import os
import tempfile

# Before tfclaims is imported: default output folders (reports/, the default audit trail) go to a
# temporary folder, and commands run as plain Python unless a test asks for Prefect.
os.environ.setdefault("TFCLAIMS_REPORTS_DIR", tempfile.mkdtemp(prefix="tfclaims-test-reports-"))
os.environ.setdefault("TFCLAIMS_ORCHESTRATOR", "none")
