"""Benchmark: what Prefect adds to a command, with and without a running Prefect server.

    .venv/bin/python benchmarks/bench_prefect.py --repeat 5

Times whole commands from outside (wall, including Python start-up and imports) on the built-in
sample cohort, in a throw-away workspace, three ways, interleaved so that load on the machine
falls on each alike:

- ``plain``: ``TFCLAIMS_ORCHESTRATOR=none`` (no Prefect at all) - the floor;
- ``temporary``: Prefect with no ``PREFECT_API_URL``: each command starts (and stops) Prefect's
  temporary server; its database is made by a warm-up run first, as a workspace keeps it;
- ``server``: against a Prefect server started once by this script (``prefect server start``), as
  ``tfclaims server`` runs one day to day.

Commands: ``validate`` (reading only) and ``demo`` (the whole pipeline, a fresh demo folder each
time). Prints medians, and each mode's overhead over the floor of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TFCLAIMS = [sys.executable, "-m", "tfclaims"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the Prefect server did not start in 120 s")


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfclaims-bench-prefect-"))
    try:
        ws = work / "ws"
        subprocess.run([*TFCLAIMS, "init", str(ws)], check=True, capture_output=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TFCLAIMS_"))}
        base |= {"TFCLAIMS_HOME": str(ws), "TFCLAIMS_REFERENCE_KEY": "benchmark-key", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        server, url = _start_server(work / "server-home")
        envs = {
            "plain": base | {"TFCLAIMS_ORCHESTRATOR": "none"},
            "temporary": base | {"PREFECT_HOME": str(work / "temp-home")},
            "server": base | {"PREFECT_API_URL": url, "PREFECT_HOME": str(work / "client-home")},
        }
        sample = ROOT / "data" / "sample"
        commands = {
            "validate": lambda i: [*TFCLAIMS, "validate", "--input", str(sample), "--out", str(work / f"v-{i}")],
            "demo": lambda i: [*TFCLAIMS, "demo", "--out", str(work / f"d-{i}")],
        }
        for mode, env in envs.items():  # warm-up: Prefect's databases made, imports cached
            _time(commands["validate"](f"warm-{mode}"), env, ws)
        times: dict[str, dict[str, list[float]]] = {c: {m: [] for m in envs} for c in commands}
        n = 0
        for _ in range(args.repeat):
            for command, make in commands.items():
                for mode, env in envs.items():
                    n += 1
                    times[command][mode].append(_time(make(n), env, ws))
        server.terminate()
        server.wait(timeout=30)
        result = {}
        for command, by_mode in times.items():
            med = {m: statistics.median(v) for m, v in by_mode.items()}
            result[command] = {
                "median_s": {m: round(v, 2) for m, v in med.items()},
                "overhead_over_plain_s": {m: round(med[m] - med["plain"], 2) for m in ("temporary", "server")},
                "ratio_to_plain": {m: round(med[m] / med["plain"], 2) for m in ("temporary", "server")},
                "runs_s": {m: [round(x, 1) for x in v] for m, v in by_mode.items()},
            }
        print(json.dumps({"repeat": args.repeat, "load_average": os.getloadavg(), **result}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
