"""A private PostgreSQL cluster for one fault-injection test: made with Debian's ``pg_createcluster`` on its
own loopback port, started, stopped (``fast`` or ``immediate``: a crash as far as clients can tell) and dropped
again. Nothing here touches the shared server on 5432.

Needs root (the cluster's files belong to the ``postgres`` user) and Debian's postgresql-common; the fault tests
skip without them, and fail instead in CI (``COVIDMETER_REQUIRE_FAULTS=1``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def available() -> str | None:
    """None when a private cluster can be made here, else why not."""
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        return "Debian's postgresql-common (pg_createcluster) is not installed"
    if os.geteuid() != 0:
        return "making a PostgreSQL cluster needs root"
    if not _versions():
        return "no PostgreSQL server version under /usr/lib/postgresql"
    return None


def skip_unless_possible() -> None:
    """Skip the calling test (or fail it in CI, COVIDMETER_REQUIRE_FAULTS=1) unless a private cluster can be made
    here; cluster tests run in the PostgreSQL pass only (COVIDMETER_TEST_DATABASE_URL), once."""
    import pytest

    if not os.environ.get("COVIDMETER_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("a private PostgreSQL cluster: runs in the PostgreSQL pass (COVIDMETER_TEST_DATABASE_URL)")
    why_not = available()
    if why_not:
        if os.environ.get("COVIDMETER_REQUIRE_FAULTS") == "1":
            pytest.fail(why_not)
        pytest.skip(why_not)


def _versions() -> list[str]:
    root = Path("/usr/lib/postgresql")
    return sorted((p.name for p in root.iterdir() if (p / "bin" / "postgres").exists()), key=int) if root.exists() else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    """One cluster: ``url`` is its database ``covidmeter`` as SQLAlchemy wants it."""

    def __init__(self, name: str, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.version = _versions()[-1]
        self.name = name
        self.port = port or free_port()
        self.settings = {"fsync": "on", "max_connections": "200", "listen_addresses": "'127.0.0.1'",
                         **(settings or {})}
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/covidmeter"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=covidmeter"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}")
        return done

    def create(self) -> None:
        self._run("pg_createcluster", "--port", str(self.port), self.version, self.name, "--",
                  "--auth-local=trust", "--auth-host=trust", "--no-sync")
        conf = Path("/etc/postgresql") / self.version / self.name / "conf.d" / "faults.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in self.settings.items()))
        self.start()
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc",
                  "CREATE DATABASE covidmeter")

    def start(self) -> None:
        self._run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, a clean shutdown; ``immediate``: every process is killed at
        once, and the next start recovers from the write-ahead log (a crash as far as clients can tell)."""
        self._run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return self._run("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL cluster {self.name} did not come up on port {self.port}")
            time.sleep(0.1)

    def psql(self, sql: str) -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "covidmeter",
                         "-Atqc", sql).stdout.strip()

    def drop(self) -> None:
        self._run("pg_dropcluster", "--stop", self.version, self.name, check=False)


@contextmanager
def private_cluster(name: str, **kwargs: object) -> Iterator[PrivateCluster]:
    cluster = PrivateCluster(name, **kwargs)  # type: ignore[arg-type]
    cluster.drop()  # a leftover of an interrupted run
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.drop()
