"""The scheduler is killed (SIGKILL), stopped (SIGTERM) or frozen (SIGSTOP) in the middle of the Monday final
aggregation, after its first method (w0) committed (issue 12, fault 3). Before the fix its claim stayed 'running'
for good and the four weeks stayed half-updated across methods until a manual re-run.

Every scheduler here is a real process running the real runner (``scheduler.runner.run_blocking``, as
``covidmeter scheduler`` does) with the real ``aggregate-final`` job over a synthetic population on PostgreSQL
(a private cluster; each test gets copies of one seeded database). The job is fired every minute instead of
Mondays at 06:30, so that a scheduler runs it at start as its catch-up of the latest scheduled run.

How the test knows the run is mid-way, deterministically: before the scheduler starts, the test's own
transaction inserts (and never commits) one estimate row of the second method with a key the run will write. The
run's w0 transaction commits; its second method's transaction then waits on that row's unique key (PostgreSQL
makes an insert of the same key wait for the other transaction). The test sees the w0 rows and the scheduler's
backend waiting for a lock, and only then kills, stops or freezes it, and rolls its own transaction back. What
every run must end with is compared with an uninterrupted run of the same job on a copy of the same data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from . import pgcluster

ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS, WEEKS, SEED = 1000, 8, 12
JOB = "aggregate-final"

# A `covidmeter scheduler` of just the final aggregation, fired every minute (grace and all else as declared).
CHILD = """
import json, os
from dataclasses import replace
from wsgi import create_app
from scheduler import runner
from scheduler.jobs import find
app = create_app(json.loads(os.environ["SCHEDULER_CONFIG"]))
job = replace(find("aggregate-final"), trigger_args={"minute": "*"})
runner.run_blocking(app, jobs=[job])
print("scheduler stopped", flush=True)
"""


@dataclass
class Seeded:
    cluster: pgcluster.PrivateCluster
    reference: dict[str, list[tuple[Any, ...]]]  # table -> rows of an uninterrupted run
    reference_methods: dict[str, int]  # method -> incidence estimates of that run
    blocker_row: dict[str, Any]  # one estimate of the second method the run writes

    def copy(self) -> str:
        """A fresh database with the seeded population and no estimates; its SQLAlchemy URL."""
        name = f"run_{uuid.uuid4().hex[:8]}"
        self.cluster.psql(f"CREATE DATABASE {name} TEMPLATE covidmeter")
        return make_url(self.cluster.url).set(database=name).render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    parsed = make_url(url)
    return f"host={parsed.host} port={parsed.port} user={parsed.username} dbname={parsed.database}"


def _config(url: str, **extra: Any) -> dict[str, Any]:
    return {"COVIDMETER_DATABASE_URL": url, "COVIDMETER_SECRET_KEY": "killed-scheduler-test-secret-0123456789abcdef",
            "COVIDMETER_TIMEZONE": "Europe/Copenhagen", **extra}


ESTIMATE_TABLES = ("incidence_estimates", "participation_estimates", "season_maxima")


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every published estimate (and the season maxima that censor the display), without its id and the time it
    was computed, in a stable order."""
    with psycopg.connect(_dsn(url)) as connection:
        result = {}
        for table in ESTIMATE_TABLES:
            columns = [r[0] for r in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND column_name NOT IN ('id', 'computed_at') "
                "ORDER BY ordinal_position", (table,))]
            listed = ", ".join(columns)
            result[table] = connection.execute(f"SELECT {listed} FROM {table} ORDER BY {listed}").fetchall()
        return result


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    pgcluster.skip_unless_possible()
    from reporting.extensions import db
    from reporting.migrate import upgrade
    from reporting.weeks import today_in
    from scheduler.incidence.methods import METHODS
    from scheduler.jobs import execute, find
    from scheduler.synthetic import generate
    from wsgi import create_app

    # No fsync: this module tests what processes do, not what a power cut leaves (copies and shutdowns are faster).
    with pgcluster.private_cluster(f"faults_{uuid.uuid4().hex[:8]}", settings={"fsync": "off"}) as cluster:
        upgrade(cluster.url)
        app = create_app({**_config(cluster.url), "TESTING": True})
        with app.app_context():
            with db.engine.begin() as connection:
                generate(connection, participants=PARTICIPANTS, weeks=WEEKS, seed=SEED,
                         today=today_in("Europe/Copenhagen"), show_progress=False)
            db.engine.dispose()
        seeded = Seeded(cluster, {}, {}, {})
        reference_url = seeded.copy()
        reference_app = create_app({**_config(reference_url), "TESTING": True})
        assert execute(reference_app, find(JOB)) == "succeeded"
        with reference_app.app_context():
            db.engine.dispose()
        seeded.reference = snapshot(reference_url)
        seeded.reference_methods = methods_written(reference_url)
        second = list(METHODS)[1]
        with psycopg.connect(_dsn(reference_url)) as connection:
            cursor = connection.execute("SELECT * FROM incidence_estimates WHERE method = %s ORDER BY id LIMIT 1",
                                        (second,))
            names = [c.name for c in cursor.description]
            seeded.blocker_row = {k: v for k, v in zip(names, cursor.fetchone()) if k != "id"}
        assert len(seeded.reference["incidence_estimates"]) > 1000
        yield seeded


class Blocker:
    """The test's own open transaction holding an uncommitted estimate of the second method: the run's second
    method waits on its key until ``release``."""

    def __init__(self, url: str, row: dict[str, Any]) -> None:
        self.connection = psycopg.connect(_dsn(url))
        columns = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        self.connection.execute(f"INSERT INTO incidence_estimates ({columns}) VALUES ({marks})", list(row.values()))
        self.pid = self.connection.info.backend_pid

    def release(self) -> None:
        if not self.connection.closed:
            self.connection.rollback()
            self.connection.close()


class Scheduler:
    """A scheduler process; its log goes to a file (read with ``log()``)."""

    def __init__(self, config: dict[str, Any], log_path: Path) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("w")
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, text=True,
                                        env={**os.environ, "SCHEDULER_CONFIG": json.dumps(config)})

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text()

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log_file.close()


def claim_row(url: str) -> dict[str, Any] | None:
    with psycopg.connect(_dsn(url)) as connection:
        cursor = connection.execute("SELECT * FROM job_runs WHERE job_name = %s", (JOB,))
        row = cursor.fetchone()
        return dict(zip([c.name for c in cursor.description], row)) if row else None


def methods_written(url: str) -> dict[str, int]:
    with psycopg.connect(_dsn(url)) as connection:
        return dict(connection.execute("SELECT method, count(*) FROM incidence_estimates GROUP BY method").fetchall())


def wait_until_mid_run(url: str, blocker: Blocker, process: Scheduler, timeout: float = 60.0) -> None:
    """Until w0 committed and the run's next method waits on the blocker's row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.process.poll() is None, f"the scheduler exited early:\n{process.log()}"
        with psycopg.connect(_dsn(url)) as connection:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = "
                "'Lock' AND pid <> %s AND %s = ANY(pg_blocking_pids(pid))", (blocker.pid, blocker.pid)).fetchone()[0]
        if waiting and methods_written(url).get("w0"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the run never got mid-way:\n{process.log()}")


def wait_for_claim(url: str, status: str, timeout: float, *processes: Scheduler) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = claim_row(url)
        if row is not None and row["status"] == status:
            return row
        time.sleep(0.05)
    logs = "\n".join(p.log() for p in processes)
    raise AssertionError(f"the claim is {row and row['status']!r}, not {status!r}:\n{logs}")


def assert_half_updated(url: str) -> None:
    written = methods_written(url)
    assert written.get("w0") and set(written) == {"w0"}, written  # the fault: only the first method is there


def test_a_scheduler_killed_mid_run_is_re_run_by_the_next_start(seeded: Seeded, tmp_path: Path) -> None:
    url = seeded.copy()
    blocker = Blocker(url, seeded.blocker_row)
    first = Scheduler(_config(url), tmp_path / "first.log")
    second = None
    try:
        wait_until_mid_run(url, blocker, first)
        first.process.kill()  # SIGKILL: no handler, no clean-up, no hand-back
        first.wait(10)
        blocker.release()
        stuck = claim_row(url)
        assert stuck["status"] == "running" and stuck["attempts"] == 1  # left behind, as in the incident
        assert_half_updated(url)

        second = Scheduler(_config(url), tmp_path / "second.log")
        done = wait_for_claim(url, "succeeded", 60, second)
        recovered_after = time.monotonic() - second.started
        assert done["attempts"] == 2 and done["owner"] != stuck["owner"]
        assert f"pid {second.process.pid}" not in stuck["owner"] and f":{second.process.pid}:" in done["owner"]
        assert snapshot(url) == seeded.reference  # as if it had never been interrupted
        log = second.log()
        assert "which has exited" in log and "running it now" in log  # found dead on this host: re-run at start
        print(f"\nkill -9 mid-run: re-run done {recovered_after:.2f} s after the new scheduler's process started; "
              f"the re-run itself took {(done['finished_at'] - done['started_at']).total_seconds():.2f} s "
              f"(detail: {done['detail']})")
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0 and "scheduler stopped" in second.log()
    finally:
        blocker.release()
        first.kill()
        if second is not None:
            second.kill()


def test_sigterm_lets_the_running_job_finish_within_the_grace(seeded: Seeded, tmp_path: Path) -> None:
    url = seeded.copy()
    blocker = Blocker(url, seeded.blocker_row)
    process = Scheduler(_config(url, COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS=30), tmp_path / "scheduler.log")
    try:
        wait_until_mid_run(url, blocker, process)
        process.signal(signal.SIGTERM)  # a deploy
        time.sleep(1.0)
        assert process.process.poll() is None  # still finishing its run
        blocker.release()
        assert process.wait(30) == 0
        assert claim_row(url)["status"] == "succeeded"
        assert snapshot(url) == seeded.reference
        log = process.log()
        assert "SIGTERM received: the scheduler takes no new run and stops" in log
        assert "every running job finished" in log and "scheduler stopped" in log
    finally:
        blocker.release()
        process.kill()


def test_sigterm_hands_back_a_job_that_cannot_finish_and_the_next_start_re_runs_it(seeded: Seeded,
                                                                                     tmp_path: Path) -> None:
    url = seeded.copy()
    blocker = Blocker(url, seeded.blocker_row)
    first = Scheduler(_config(url, COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS=2), tmp_path / "first.log")
    second = None
    try:
        wait_until_mid_run(url, blocker, first)
        sent = time.monotonic()
        first.signal(signal.SIGTERM)
        assert first.wait(20) == 0
        stopped_after = time.monotonic() - sent
        assert 2 <= stopped_after < 10, stopped_after
        handed = claim_row(url)
        assert handed["status"] == "interrupted" and "did not finish within the 2 s grace" in handed["detail"]
        assert "handed back" in first.log()
        blocker.release()
        assert_half_updated(url)  # nothing after the hand-back was committed

        second = Scheduler(_config(url), tmp_path / "second.log")
        done = wait_for_claim(url, "succeeded", 60, second)
        assert done["attempts"] == 2
        assert snapshot(url) == seeded.reference
        print(f"\nSIGTERM mid-run: stopped {stopped_after:.1f} s after the signal (grace 2 s); re-run done "
              f"{time.monotonic() - second.started:.2f} s after the next start")
        second.signal(signal.SIGINT)  # Ctrl+C stops it the same way
        assert second.wait(30) == 0
    finally:
        blocker.release()
        first.kill()
        if second is not None:
            second.kill()


def test_a_frozen_scheduler_loses_its_lease_and_cannot_commit_after_the_takeover(seeded: Seeded,
                                                                                  tmp_path: Path) -> None:
    """SIGSTOP (a suspended VM, a stuck process): alive but silent. After the lease the other scheduler's tick
    takes the claim over and re-runs the period; when the frozen one wakes, its pending commit is refused."""
    url = seeded.copy()
    lease = {"COVIDMETER_JOB_LEASE_SECONDS": 4, "COVIDMETER_JOB_HEARTBEAT_SECONDS": 1,
             "COVIDMETER_SCHEDULER_TICK_SECONDS": 1}
    blocker = Blocker(url, seeded.blocker_row)
    frozen = Scheduler(_config(url, **lease), tmp_path / "frozen.log")
    other = None
    try:
        wait_until_mid_run(url, blocker, frozen)
        frozen.signal(signal.SIGSTOP)
        blocker.release()  # the frozen run's second method goes on in the server, up to what it was sent
        held = claim_row(url)
        other = Scheduler(_config(url, **lease), tmp_path / "other.log")
        taken = wait_for_claim_owner_change(url, held["owner"], 30, other)
        taken_after = time.monotonic() - other.started
        assert taken["status"] == "running" and taken["attempts"] == 2
        assert "stale" in taken["detail"]
        time.sleep(1.0)  # the new run now waits on the frozen run's uncommitted rows
        frozen.signal(signal.SIGCONT)
        done = wait_for_claim(url, "succeeded", 60, frozen, other)
        assert snapshot(url) == seeded.reference
        # The rows of the second to fourth methods are all the new run's: the frozen run's commit was refused.
        others = sum(n for method, n in seeded.reference_methods.items() if method != "w0")
        assert others > 0 and done["detail"].startswith("weeks ") and f": {others} estimates inserted, 0 updated" \
            in done["detail"], done["detail"]
        deadline = time.monotonic() + 10
        while "commit refused" not in frozen.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        frozen_log = frozen.log()
        assert "commit refused" in frozen_log, frozen_log
        print(f"\nSIGSTOP mid-run: claim taken over {taken_after:.2f} s after the other scheduler started "
              f"(lease 4 s, tick 1 s)")
        for process in (frozen, other):
            process.signal(signal.SIGTERM)
            assert process.wait(30) == 0
    finally:
        blocker.release()
        if frozen.process.poll() is None:
            frozen.signal(signal.SIGCONT)
        frozen.kill()
        if other is not None:
            other.kill()


def wait_for_claim_owner_change(url: str, owner: str, timeout: float, *processes: Scheduler) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = claim_row(url)
        if row and row["owner"] != owner:
            return row
        time.sleep(0.05)
    raise AssertionError("the claim was not taken over:\n" + "\n".join(p.log() for p in processes))


def test_a_run_missed_beyond_its_grace_is_recorded_by_a_starting_scheduler(seeded: Seeded, tmp_path: Path) -> None:
    """The real job as declared (Mondays 06:30, three days' grace): its last claim is three weeks old, so at least
    the Monday run two weeks ago is past its grace. The starting scheduler records it missed, says so at ERROR,
    and /readyz reports it while staying ready."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from reporting.weeks import format_iso_week, monday_of
    from wsgi import create_app

    url = seeded.copy()
    zone = ZoneInfo("Europe/Copenhagen")
    monday = monday_of(dt.datetime.now(zone).date()) - dt.timedelta(weeks=3)
    long_ago = dt.datetime.combine(monday, dt.time(6, 30), zone)
    with psycopg.connect(_dsn(url)) as connection:
        connection.execute("INSERT INTO job_runs (job_name, period, status, started_at, finished_at, scheduled_for, "
                           "attempts) VALUES (%s, %s, 'succeeded', %s, %s, %s, 1)",
                           (JOB, format_iso_week(monday), long_ago, long_ago, long_ago))
    child = CHILD.replace('job = replace(find("aggregate-final"), trigger_args={"minute": "*"})',
                          'job = find("aggregate-final")')
    assert child != CHILD
    two_weeks_ago = format_iso_week(monday + dt.timedelta(weeks=1))
    log_path = tmp_path / "scheduler.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                   text=True, env={**os.environ, "SCHEDULER_CONFIG": json.dumps(_config(url))})
        try:
            deadline = time.monotonic() + 30
            while f"for {two_weeks_ago} missed" not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            log = log_path.read_text()
            assert f"ERROR scheduler.runner: job aggregate-final for {two_weeks_ago} missed: scheduled for" in log, log
            assert f"covidmeter jobs run aggregate-final --period {two_weeks_ago}" in log
            with psycopg.connect(_dsn(url)) as connection:
                status = connection.execute("SELECT status FROM job_runs WHERE job_name = %s AND period = %s",
                                            (JOB, two_weeks_ago)).fetchone()
            assert status == ("missed",)
            app = create_app({**_config(url), "TESTING": True})
            ready = app.test_client().get("/readyz")
            assert ready.status_code == 200
            assert two_weeks_ago in [m["period"] for m in ready.get_json()["jobs"]["missed"]]
            listing = app.test_cli_runner().invoke(args=["jobs"])
            assert listing.output.startswith("ATTENTION: ") and f"    {two_weeks_ago:<18} MISSED" in listing.output
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            from reporting.extensions import db

            if "app" in locals():
                with app.app_context():
                    db.engine.dispose()
