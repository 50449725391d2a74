"""``tfclaims server`` and ``tfclaims serve``: the Prefect UI as the analysts' console.

``tfclaims server`` starts a Prefect server for the workspace (its database in the workspace's
Prefect home) and says how to point commands at it; ``tfclaims serve`` publishes the run, claim,
spot-check and reconcile flows as deployments of that server, with parameter forms in the UI, and
runs what is started from there (and a claim run on the council config's schedule, if it has one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfclaims.cli import app
from tfclaims.cli._common import prefect_api_url
from tfclaims.core.config import load_config
from tfclaims.core.errors import InputError
from tfclaims.core.orchestration import PREFECT_PORT



def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


@app.command("server")
def server(
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="The port of the Prefect server and its UI.")] = PREFECT_PORT,
) -> None:
    """Start a Prefect server for this workspace (the UI at http://127.0.0.1:PORT). Leave it running and,
    in another terminal, `export PREFECT_API_URL=http://127.0.0.1:PORT/api`: commands then report to it
    (no temporary server each time) and `tfclaims serve` publishes the flows there."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port}: a port number from 1 to 65535")
    url = f"http://127.0.0.1:{port}"
    print(f"Prefect server for this workspace: {url} (Prefect home {os.environ.get('PREFECT_HOME', '~/.prefect')})")
    print(f"In another terminal: export PREFECT_API_URL={url}/api   then run tfclaims commands, or `tfclaims serve`.")
    sys.stdout.flush()
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect) if prefect.exists() else "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    # the UI asks the API at the configured port, not at --port: say both
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": f"{url}/api"}
    raise typer.Exit(subprocess.call(cmd, env=env))


@app.command("serve")
def serve(
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="The council config file (for claim_schedule).",
                                                   show_default="the workspace's council.yaml")] = None,
) -> None:
    """Publish the run, claim, spot-check and reconcile flows as deployments on the Prefect server and
    run what an analyst starts from its UI (Deployments, then Run). Needs a running server
    (`tfclaims server`) and PREFECT_API_URL set. Runs until Ctrl-C."""
    if config is None:
        from tfclaims.core.workspace import require_workspace

        config = require_workspace().council_config
    council = load_config(config)  # a bad config is refused before anything is published
    url = prefect_api_url()
    if not url:
        raise InputError("tfclaims serve needs a running Prefect server: start one with `tfclaims server` and set "
                         f"PREFECT_API_URL=http://127.0.0.1:{PREFECT_PORT}/api (a temporary server would stop with this command)")
    from prefect import serve as prefect_serve

    from tfclaims.flows.deployments import DEPLOYED, SCHEDULED

    deployments = [fn.to_deployment(name=name, tags=["tfclaims"], description=_first_line(fn.__doc__)) for name, fn in DEPLOYED.items()]
    schedule = council.claim_schedule
    if schedule is not None:
        cohort = schedule.input if schedule.input.is_absolute() or config is None else Path(config).parent / schedule.input
        name, fn = SCHEDULED
        deployments.append(fn.to_deployment(name=name, tags=["tfclaims"], description=_first_line(fn.__doc__), cron=schedule.cron,
                                            parameters={"input": str(cohort.resolve()), "dry_run": schedule.dry_run}))
    print(f"Serving {', '.join(DEPLOYED)} on {url}" + (f"; claim-window on the schedule {schedule.cron}" if schedule else ""))
    print("Start a run from the UI: Deployments, pick one, Run, Custom run. Ctrl-C stops serving.")
    sys.stdout.flush()
    prefect_serve(*deployments, print_starting_message=False)
