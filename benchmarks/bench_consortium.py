"""Benchmark: a consortium run of four councils, three ways, against four separate runs (interleaved, median of N).

    .venv/bin/python benchmarks/bench_consortium.py [--families 20000] [--repeats 3]

Builds four synthetic councils (``--families`` each, seeds 1-4; cached under benchmarks/out/; their
family and person ids are the same ids, so they collide on a shared ledger unless kept apart), each
its own workspace with its own council config and reference key; starts a PostgreSQL server (the
local binaries, as the tests do), a Prefect server and a process worker of a work pool
(``--limit 2``) itself; then times each mode from outside (wall, start-up included), interleaved,
each repeat in fresh workspaces and, for the consortium modes, a fresh PostgreSQL database that all
four councils share as their ledger:

- ``alone``: four separate ``tfclaims run`` commands, one after another, each council with its own
  SQLite ledger (how a council runs by itself; the reference for the decisions);
- ``sequential``: the councils one after another in one process (a flow run each);
- ``work-pool``: a flow run per council on the process work pool (the worker runs two at a time);
- ``processes``: one flow, a task per council on ``ProcessPoolTaskRunner(max_workers=2)``.

Peak memory is the sum of the RSS of the whole process tree (the command's, and the worker's in
the work-pool mode), sampled every 0.2 s; PostgreSQL's and the Prefect server's are not counted.
Fails unless each council's claim decisions (``claim_decisions.csv``, byte for byte) are the same
in every mode as when it runs alone. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from postgres import find_postgres_bin, start_postgres  # noqa: E402  (the tests' throwaway PostgreSQL server)

OUT = ROOT / "benchmarks" / "out" / "consortium"
PERIOD_END = "2021-03-31"
CODES = ["E10000001", "E10000002", "E10000003", "E10000004"]
PREFECT = Path(sys.executable).with_name("prefect")
POOL = "bench-consortium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cohorts(families: int) -> Path:
    """The four councils' cohorts (``tfclaims synth``), made once per size."""
    root = OUT / f"cohorts-{families}"
    for n, code in enumerate(CODES, start=1):
        if not (root / code / "people.csv").exists():
            subprocess.run([sys.executable, "-m", "tfclaims", "synth", "--families", str(families), "--seed", str(n), "--out",
                            str(root / code), "--period-end", PERIOD_END], check=True, capture_output=True)
    return root


def _consortium(root: Path, cohorts: Path, ledger: str | None) -> Path:
    """Fresh council workspaces (the cohorts linked, not copied) and their COUNCILS.yaml (``ledger``: shared by all)."""
    shutil.rmtree(root, ignore_errors=True)
    lines = [*([f"ledger: {ledger}"] if ledger else []), "councils:"]
    for n, code in enumerate(CODES, start=1):
        ws = root / code
        ws.mkdir(parents=True)
        (ws / "tfclaims.toml").write_text('[workspace]\nreports = "reports"\n', encoding="utf-8")
        (ws / "council.yaml").write_text(f"council_name: Council {n}\nreference_key: bench-key-{n}\n", encoding="utf-8")
        lines += [f"  - code: {code}", f"    workspace: {ws}", f"    input: {cohorts / code}"]
    (root / "COUNCILS.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "COUNCILS.yaml"


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _tree_rss(roots: list[psutil.Process]) -> int:
    total = 0
    for root in roots:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    return total


def _timed(cmd: list[str], env: dict[str, str], also: list[int]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    roots = [psutil.Process(proc.pid), *(psutil.Process(p) for p in also)]
    base = _tree_rss(roots[1:])  # the worker's own, idle, before the run
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(roots) - base)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    return wall, peak[0], out


def _hash(folder: Path) -> str:
    return hashlib.sha256((folder / "claim_decisions.csv").read_bytes()).hexdigest()


def _decisions(out: str) -> dict[str, str]:
    folder = Path(out.split("outputs in ", 1)[1].split(":\n", 1)[0])
    summary = json.loads((folder / "consortium_summary.json").read_text(encoding="utf-8"))
    return {c["code"]: _hash(Path(c["run_folder"])) for c in summary["councils"]}


def _alone(root: Path, cohorts: Path, env: dict[str, str]) -> tuple[float, int, dict[str, str]]:
    """Four separate ``tfclaims run`` commands, one after another: wall, the largest peak, the decisions."""
    _consortium(root, cohorts, None)
    wall, peak, decisions = 0.0, 0, {}
    for code in CODES:
        ws = root / code
        cmd = [sys.executable, "-m", "tfclaims", "run", "--input", str(cohorts / code), "--period-end", PERIOD_END, "--seed", "11",
               "--out", str(ws / "out")]
        w, p, _ = _timed(cmd, env | {"TFCLAIMS_HOME": str(ws), "TFCLAIMS_ORCHESTRATOR": "none"}, [])
        wall, peak, decisions[code] = wall + w, max(peak, p), _hash(ws / "out")
    return wall, peak, decisions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cohorts = _cohorts(args.families)
    work = OUT / "runs"
    home = OUT / "prefect"
    shutil.rmtree(home, ignore_errors=True)
    for sub in ("server", "client", "worker"):
        (home / sub).mkdir(parents=True)  # Prefect's SQLite file needs its folder
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TFCLAIMS_"))}
    env = base | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(home / "client")}
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL binaries (initdb, postgres) found: the consortium shares one PostgreSQL ledger")
    pg = start_postgres(bin_dir)
    import psycopg

    server = _start([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env | {"PREFECT_HOME": str(home / "server")})
    worker = None
    try:
        for _ in range(360):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("the Prefect server did not start in 180 s")
        env["PREFECT_API_URL"] = url
        subprocess.run([str(PREFECT), "work-pool", "create", POOL, "--type", "process"], env=env, check=True, capture_output=True)
        worker = _start([str(PREFECT), "worker", "start", "--pool", POOL, "--type", "process", "--limit", "2"], env | {"PREFECT_HOME": str(home / "worker")})
        modes = {"alone": None, "sequential": [], "work-pool": ["--work-pool", POOL], "processes": ["--processes", "2"]}
        walls: dict[str, list[float]] = {m: [] for m in modes}
        peaks: dict[str, list[int]] = {m: [] for m in modes}
        seen: dict[str, dict[str, str]] = {}
        for r in range(args.repeats):
            for mode, extra in modes.items():
                if extra is None:
                    wall, peak, decisions = _alone(work / mode, cohorts, env)
                else:
                    database = f"bench_{mode.replace('-', '_')}_{r}"
                    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                        conn.execute(f'CREATE DATABASE "{database}"')
                    ledger = f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/{database}"
                    councils = _consortium(work / mode, cohorts, ledger)
                    cmd = [sys.executable, "-m", "tfclaims", "consortium", "run", str(councils), "--period-end", PERIOD_END, "--seed", "11",
                           "--out", str(work / mode / "out"), *extra]
                    wall, peak, out = _timed(cmd, env, [worker.pid] if mode == "work-pool" else [])
                    decisions = _decisions(out)
                walls[mode].append(wall)
                peaks[mode].append(peak)
                if seen and decisions != seen["alone"]:
                    raise SystemExit(f"{mode}: the councils' claim decisions differ from the councils' separate runs")
                seen[mode] = decisions
                print(f"repeat {r + 1} {mode}: {wall:.1f} s, peak {peak / 1e9:.2f} GB", file=sys.stderr, flush=True)
        print(f"\n4 councils x {args.families:,} families (synthetic, seeds 1-4), period end {PERIOD_END}, median of {args.repeats}:\n")
        print("| mode | wall (runs) | median | peak RSS of the process tree (max) |")
        print("| --- | --- | --- | --- |")
        for mode in modes:
            runs = " / ".join(f"{w:.1f}" for w in walls[mode])
            print(f"| {mode} | {runs} s | **{statistics.median(walls[mode]):.1f} s** | {max(peaks[mode]) / 1e9:.2f} GB |")
        print("\nclaim decisions of each council identical to its separate run in every mode: yes "
              "(consortium modes on one PostgreSQL ledger, a fresh database each run)")
    finally:
        for p in (worker, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        pg.stop()


if __name__ == "__main__":
    main()
