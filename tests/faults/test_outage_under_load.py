"""The database restarted, and then stopped dead, under open-loop submission load through real gunicorn
workers (issue 12: "the database restarted and immediately stopped under open-loop submission load").

An open loop sends at a fixed rate whatever the answers (as a population of phones does), so an outage meets a
steady stream of new reports rather than a client politely waiting. The test counts what was sent, what was
accepted (201/200), what was stored (``report_submissions``), and what was refused, and holds the service to
its promises (docs/reliability.md): every accepted report is stored exactly once; every refusal is a 503 with a
short Retry-After, never a 500; and reports are accepted again within seconds of the database's return.
The figures are printed (pytest -s) and recorded in docs/reliability.md."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reporting.db import RETRY_AFTER_SECONDS

from .pgcluster import PrivateCluster, free_port

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 300
RATE_PER_SECOND = 80
WORKERS = 4
PHASES = (  # seconds from the start of the load: what happens to the database
    (4.0, "restart"),  # a clean restart (pg_ctlcluster restart -m fast)
    (10.0, "crash"),  # every server process killed; crash recovery at the next start
)
DOWN_SECONDS = 2.0  # how long the database stays down after the crash
DURATION = 18.0


def _people(cluster: PrivateCluster) -> list[tuple[str, str]]:
    """(profile id, bearer token) of PEOPLE signed-up participants with a live API session each, written
    straight into the database (the sign-up path has its own tests)."""
    from reporting.db import make_engine
    from reporting.models import Account, Consent, Profile, UserSession
    from reporting.security import hash_secret, new_secret
    from sqlalchemy.orm import Session

    engine = make_engine(cluster.url)
    people = []
    with Session(engine) as session:
        for n in range(PEOPLE):
            account = Account(email=f"load{n}@example.dk", status="active", language="da")
            account.consents.append(Consent(version="2026-1"))
            account.profiles.append(Profile(birth_year=1950 + n % 60, sex="female" if n % 2 else "male",
                                            municipality_code=101, intake_version="intake-1",
                                            intake_answers={"birth_year": 1950 + n % 60}))
            session.add(account)
            session.flush()
            token = "cmm_" + new_secret()
            session.add(UserSession(session_hash=hash_secret(token), account_id=account.id,
                                    expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)))
            people.append((account.profiles[0].id, token))
        session.commit()
    engine.dispose()
    return people


class Gunicorn:
    def __init__(self, cluster: PrivateCluster, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "COVIDMETER_DATABASE_URL": cluster.url, "COVIDMETER_RATELIMIT_ENABLED": "false",
               "COVIDMETER_SECRET_KEY": "load-test-secret-key-0123456789abcdefghij", "COVIDMETER_REDIS_URL": ""}
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}",
             "--graceful-timeout", "5", "wsgi:create_app()"], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, None, {})

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]
                ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def test_reports_survive_a_restart_and_a_crash_of_the_database_under_open_loop_load(
        cluster: PrivateCluster, tmp_path: Path) -> None:
    people = _people(cluster)
    server = Gunicorn(cluster, tmp_path / "gunicorn.log")
    outcomes: dict[str, tuple[int | str, str | None, float]] = {}  # submission id -> (status, retry-after, t)
    lock = threading.Lock()
    started = time.monotonic()
    events: dict[str, float] = {}

    def send(n: int) -> None:
        profile, token = people[n % len(people)]
        submission = f"load-{n:07d}-{'x' * 8}"
        body = json.dumps({"submission_id": submission, "answers": {"symptoms": ["none"]}}).encode()
        try:
            status, headers, _ = server.request("POST", f"/api/v1/me/profiles/{profile}/reports", body, {
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            outcome: tuple[int | str, str | None, float] = (status, headers.get("retry-after"),
                                                           time.monotonic() - started)
        except OSError as exc:  # no answer at all: the request's fate is unknown to the client
            outcome = (type(exc).__name__, None, time.monotonic() - started)
        with lock:
            outcomes[submission] = outcome

    def faults() -> None:
        for at, what in PHASES:
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            events[f"{what} begins"] = time.monotonic() - started
            if what == "restart":
                cluster.restart("fast")
            else:
                cluster.stop("immediate")
                time.sleep(DOWN_SECONDS)
                cluster.start()
            events[f"{what}: database back"] = time.monotonic() - started

    fault_thread = threading.Thread(target=faults)
    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            fault_thread.start()
            n = 0
            while (elapsed := time.monotonic() - started) < DURATION:
                due = int(elapsed * RATE_PER_SECOND)
                while n < due:
                    pool.submit(send, n)
                    n += 1
                time.sleep(0.002)
        fault_thread.join()
    finally:
        server.stop()

    statuses = Counter(status for status, _, _ in outcomes.values())
    accepted = {s for s, (status, _, _) in outcomes.items() if status in (200, 201)}
    stored = set(cluster.psql("SELECT submission_id FROM report_submissions").split())
    refusals = [(status, retry) for status, retry, _ in outcomes.values() if isinstance(status, int) and status >= 500]
    recovery = {}
    for what in ("restart", "crash"):
        back = events[f"{what}: database back"]
        first = min((t for status, _, t in outcomes.values() if status in (200, 201) and t >= back), default=None)
        recovery[what] = None if first is None else round(first - back, 2)
    figures = {"sent": len(outcomes), "answers": dict(statuses), "accepted": len(accepted), "stored": len(stored),
               "accepted but not stored": len(accepted - stored), "stored but not sent": len(stored - set(outcomes)),
               "seconds to the first accepted report after the database was back": recovery,
               "events (s)": {k: round(v, 2) for k, v in events.items()}}
    print("\noutage under load:", json.dumps(figures, indent=1))
    (tmp_path / "figures.json").write_text(json.dumps(figures))

    assert len(outcomes) >= DURATION * RATE_PER_SECOND * 0.9
    assert accepted <= stored, "an accepted report was lost"
    assert stored <= set(outcomes), "a report was stored that nobody sent"
    assert int(cluster.psql("SELECT count(*) FROM report_submissions")) == len(stored)  # once each
    assert refusals, "the outage refused nothing: the fault did not happen"
    assert {status for status, _ in refusals} == {503}, statuses
    assert all(retry == str(RETRY_AFTER_SECONDS) for _, retry in refusals)
    assert all(seconds is not None and seconds < 5 for seconds in recovery.values()), recovery
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
