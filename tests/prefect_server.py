"""A real Prefect server for a test module (``prefect server start``), as ``tfclaims server`` runs one,
and a process worker of a work pool on it. Import the fixtures into a test module:

    from prefect_server import server  # noqa: F401
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PREFECT = Path(sys.executable).with_name("prefect")

__all__ = ["PREFECT", "free_port", "server", "start_worker"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server of its own (``prefect server start``), as ``tfclaims server`` runs one."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(360):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("the Prefect server exited at start")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the Prefect server did not start in 180 s")
    yield {"url": url, "db": home / "prefect.db", "pid": proc.pid}
    proc.terminate()
    proc.wait(timeout=30)


def start_worker(url: str, pool: str, home: Path, *, limit: int = 2, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Create the process work pool ``pool`` on the server at ``url`` and start a worker of it
    (``prefect worker start --pool NAME --type process --limit N``); the caller stops it."""
    base = {k: v for k, v in (env or os.environ).items() if not k.startswith("PREFECT_")}
    base |= {"PREFECT_API_URL": url, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    subprocess.run([str(PREFECT), "work-pool", "create", pool, "--type", "process"], env=base, check=True, capture_output=True)
    return subprocess.Popen([str(PREFECT), "worker", "start", "--pool", pool, "--type", "process", "--limit", str(limit)], env=base,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
