"""A throwaway PostgreSQL server for tests (a pytest plugin module: ``pytest_plugins = ["postgres"]``).

Fixtures:
- ``postgres_server_url`` (session): a URL of a database on a real PostgreSQL server. ``TFCLAIMS_TEST_PG_URL``
  if set; otherwise a server started here from the local binaries (``initdb``/``postgres`` on ``PATH``,
  ``/usr/local/bin`` or ``/usr/lib/postgresql/*/bin``) in a temporary folder, on 127.0.0.1 and a free port,
  stopped (and its folder removed) at the end of the session. Running as root, the server runs as the
  ``postgres`` (or ``nobody``) user, since PostgreSQL refuses to run as root. The server also dies with the
  test process (parent-death signal), so a killed pytest leaves no orphan.
- ``postgres_url`` (function): a URL whose connections see a fresh, empty schema of their own
  (``search_path``), dropped after the test.

No binaries and no ``TFCLAIMS_TEST_PG_URL``: the PostgreSQL tests are skipped, loudly.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_URL_ENV = "TFCLAIMS_TEST_PG_URL"
_PR_SET_PDEATHSIG = 1
_NOT_RUN = "PostgreSQL tests were NOT run"


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or None."""
    candidates: list[Path] = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates.append(Path("/usr/local/bin"))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0
    )
    candidates.extend(Path(p) for p in reversed(versions))
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres")):
            return folder
    return None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _child_setup(user: pwd.struct_passwd | None) -> None:
    """In the child before exec: drop to ``user``, then die (immediate shutdown) with the parent."""
    if user is not None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    # after setuid: a credential change clears the parent-death signal
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running throwaway server."""

    process: subprocess.Popen[bytes]
    folder: Path
    port: int
    log: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no waiting for clients
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)  # immediate shutdown
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def _remove_stale_folders(min_age_seconds: float = 600.0) -> None:
    """Folders left by a test session that was killed (its server died with it): old, with no live postmaster."""
    for folder in Path(tempfile.gettempdir()).glob("tfclaims-pg-*"):
        with contextlib.suppress(OSError, ValueError):
            if time.time() - folder.stat().st_mtime < min_age_seconds:
                continue
            pid_file = folder / "data" / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 0)
                    continue  # still running: not ours to remove
            shutil.rmtree(folder, ignore_errors=True)


def start_postgres(bin_dir: Path, *, timeout: float = 30.0) -> PostgresServer:
    """initdb a temporary cluster and start ``postgres`` on 127.0.0.1 (and a socket in the folder)."""
    _remove_stale_folders()
    user = _unprivileged_user()
    folder = Path(tempfile.mkdtemp(prefix="tfclaims-pg-"))
    data = folder / "data"
    log = folder / "postgres.log"
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    os.chmod(folder, 0o700)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    if user is not None:
        env["HOME"] = str(folder)
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, env=env, cwd=folder, preexec_fn=lambda: _child_setup(user), timeout=120,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    port = _free_port()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=40", "-c", "shared_buffers=16MB"],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=folder,
            preexec_fn=lambda: _child_setup(user),
        )  # fmt: skip
    server = PostgresServer(process=process, folder=folder, port=port, log=log)
    atexit.register(server.stop)  # belt and braces: the fixture stops it too
    deadline = time.monotonic() + timeout
    import psycopg

    while True:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            server.stop()
            raise RuntimeError(f"postgres exited with code {process.returncode}:\n{text}")
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                server.stop()
                raise RuntimeError(f"postgres did not accept connections within {timeout} s:\n{text}") from None
            time.sleep(0.05)


def _psycopg_url(url: str) -> str:
    """A SQLAlchemy-style URL as a libpq one."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A database on a real PostgreSQL server (see the module docstring)."""
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield _psycopg_url(given)
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        message = (
            f"{_NOT_RUN}: no initdb/postgres binaries found (PATH, /usr/local/bin, /usr/lib/postgresql/*/bin) "
            f"and {PG_URL_ENV} is not set"
        )
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    import psycopg

    started = time.monotonic()
    server = start_postgres(bin_dir)
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE tfclaims_test")
        print(f"\n[postgres] test server on port {server.port} ready in {time.monotonic() - started:.2f} s")
        yield f"postgresql://postgres@127.0.0.1:{server.port}/tfclaims_test"
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL of a fresh, empty database of its own (the product picks a schema per council inside it);
    the database is dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server of ``server_url`` (its URL), dropped at the end."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
