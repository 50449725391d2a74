"""``tfclaims init``: make a workspace, the folder that holds a council's state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tfclaims.cli import app
from tfclaims.core.workspace import HOME_ENV, init_workspace


@app.command("init")
def init_command(
    folder: Annotated[Path, typer.Argument(help="The workspace folder (made if missing).", metavar="DIR", show_default="the current folder")] = Path("."),
) -> None:
    """Make DIR a workspace: the council's ledger, audit trail, run folders and error logs live there."""
    ws, created = init_workspace(folder)
    if not created:
        print(f"{ws.root} is already a tfclaims workspace (state in {ws.reports_dir}); nothing changed")
        return
    print(f"made a tfclaims workspace in {ws.root}")
    print(f"  {ws.root / 'tfclaims.toml'}   marks the workspace")
    print(f"  {ws.root / 'council.yaml'}    the council config (edit it)")
    print(f"  {ws.reports_dir}/   run folders, ledger, audit trail, error logs")
    print(f"Run commands inside {ws.root}, or from anywhere with --workspace {ws.root} or {HOME_ENV}={ws.root}.")
    print("Set the council's secret reference key in the environment: TFCLAIMS_REFERENCE_KEY.")
