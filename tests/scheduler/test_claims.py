"""Per-period claims held as leases: the same period runs once, whatever the number of schedulers or restarts;
a claim whose process died or froze is taken over by exactly one contender; a run whose claim was taken over
commits nothing more."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from reporting.extensions import db
from reporting.models import InstanceFact, JobRun, utcnow
from scheduler import claims

POLICY = claims.Policy()  # lease 90 s, 5 attempts, first retry after 2 min
FAST = claims.Policy(lease=dt.timedelta(seconds=0.6), heartbeat=dt.timedelta(seconds=0.1))
ELSEWHERE = "other-host:4242:-:0badc0de"  # a process on another machine: only its heartbeat tells


def _set(claim_id: int, engine: object = None, **values: object) -> None:
    with (engine or db.engine).begin() as connection:  # type: ignore[attr-defined]
        connection.execute(update(JobRun).where(JobRun.id == claim_id).values(**values))


def _row(claim_id: int) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, claim_id)


def test_second_claim_of_the_same_period_is_refused(app: Flask) -> None:
    with app.app_context():
        first = claims.claim(db.engine, "aggregate-recent", "2026-03-02T10")
        assert first is not None
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T10") is None  # running
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T11") is not None  # another period
        assert claims.claim(db.engine, "send-mail", "2026-03-02T10") is not None  # another job
        claims.finish(db.engine, first, True, "3 estimates inserted")
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T10") is None  # succeeded
        run = db.session.scalar(select(JobRun).where(JobRun.id == first.id))
        assert (run.status, run.detail, run.attempts) == ("succeeded", "3 estimates inserted", 1)
        assert run.finished_at is not None and run.finished_at >= run.started_at
        assert run.heartbeat_at is not None and run.owner == first.owner
        host, pid = run.owner.split(":")[:2]
        assert host == socket.gethostname()[:100] and int(pid) > 0


def test_a_claim_whose_heartbeat_stopped_is_taken_over_after_the_lease(app: Flask) -> None:
    with app.app_context():
        held = claims.claim(db.engine, "aggregate-final", "2026-W10")
        now = utcnow()
        _set(held.id, owner=ELSEWHERE, heartbeat_at=now - dt.timedelta(seconds=60))
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY) is None  # within the lease
        _set(held.id, heartbeat_at=now - dt.timedelta(seconds=91))
        taken = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY)
        assert taken is not None and taken.id == held.id and taken.attempts == 2
        run = _row(held.id)
        assert run.owner == taken.owner and run.status == "running"
        assert "taken over from a stale running claim" in run.detail and "other-host pid 4242" in run.detail
        # Its former holder, should it wake up, can no longer refresh it, nor record an outcome over it.
        assert claims.heartbeat(db.engine, held) is False
        stale_holder = claims.Claim(held.id, "aggregate-final", "2026-W10", ELSEWHERE)
        assert claims.heartbeat(db.engine, stale_holder) is False
        assert claims.finish(db.engine, stale_holder, True, "late") is False
        assert claims.finish(db.engine, taken, True, "done") is True
        assert _row(held.id).detail == "done (attempt 2)"


def test_concurrent_takeovers_of_a_stale_claim_have_one_winner(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        held = claims.claim(engine, "aggregate-final", "2026-W11")
        _set(held.id, owner=ELSEWHERE, heartbeat_at=utcnow() - dt.timedelta(minutes=5))

        def contend(_: int) -> bool:
            return claims.claim(engine, "aggregate-final", "2026-W11", policy=POLICY) is not None

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(contend, range(12)))
        assert outcomes.count(True) == 1
        assert _row(held.id).attempts == 2


def test_concurrent_claims_have_one_winner(app: Flask) -> None:
    with app.app_context():
        engine = db.engine

        def contend(_: int) -> bool:
            return claims.claim(engine, "send-mail", "2026-03-02T10:15") is not None

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(contend, range(12)))
        assert outcomes.count(True) == 1


def test_a_claim_of_a_process_gone_from_this_host_is_taken_over_at_once(app: Flask) -> None:
    """Same kernel boot and PID namespace: a free PID means the holder is dead, whatever its heartbeat says."""
    if claims._host_key() == "-":
        pytest.skip("no /proc here: only the lease can tell")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(gone.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with app.app_context():
            for period, pid, expected in (("2026-W12", dead_pid, True), ("2026-W13", alive.pid, False)):
                held = claims.claim(db.engine, "aggregate-final", period)
                _set(held.id, owner=f"{socket.gethostname()}:{pid}:{claims._host_key()}:12345678",
                     heartbeat_at=utcnow())  # a fresh heartbeat
                taken = claims.claim(db.engine, "aggregate-final", period, policy=POLICY)
                assert (taken is not None) is expected, period
            assert "which has exited" in db.session.scalar(select(JobRun.detail).where(JobRun.period == "2026-W12"))
    finally:
        alive.kill()
        alive.wait()
    # A claim of this very process, made and not yet run (or run under its lease), is never taken for dead.
    with app.app_context():
        mine = claims.claim(db.engine, "aggregate-final", "2026-W14")
        assert claims.claim(db.engine, "aggregate-final", "2026-W14", policy=POLICY) is None
        assert not claims.is_stale(_row(mine.id), POLICY)


def test_failed_claims_are_retried_after_a_backoff_up_to_the_attempts(app: Flask) -> None:
    with app.app_context():
        first = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY)
        claims.finish(db.engine, first, False, "OperationalError: the database is away")
        failed_at = _row(first.id).finished_at
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY) is None  # backing off
        later = failed_at + dt.timedelta(minutes=2, seconds=1)
        retry = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY, now=later)
        assert retry is not None and retry.id == first.id and retry.attempts == 2
        assert "taken over from a failed claim" in _row(first.id).detail
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY, now=later) is None  # running
        # The delays double: 2, 4, 8, 16 minutes (at most 30).
        assert [POLICY.retry_delay(n).total_seconds() / 60 for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]
        _set(first.id, status="failed", attempts=5, finished_at=utcnow() - dt.timedelta(days=1))
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY) is None  # gave up
        assert claims.retry_due(_row(first.id), POLICY) is None
        by_hand = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY, manual=True)
        assert by_hand is not None and by_hand.attempts == 6


def test_an_interrupted_claim_is_retried_at_once_and_a_missed_one_only_by_hand(app: Flask) -> None:
    with app.app_context():
        first = claims.claim(db.engine, "aggregate-final", "2026-W10")
        assert claims.hand_back(db.engine, first, "interrupted: the scheduler was stopped")
        assert _row(first.id).status == "interrupted"
        assert claims.hand_back(db.engine, first, "twice") is False  # no longer running
        again = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY)
        assert again is not None and again.attempts == 2
        moment = dt.datetime(2026, 3, 9, 6, 30, tzinfo=dt.timezone.utc)
        assert claims.record_missed(db.engine, "aggregate-final", "2026-W11", moment, "missed: no scheduler")
        assert not claims.record_missed(db.engine, "aggregate-final", "2026-W11", moment, "missed twice")
        assert claims.claim(db.engine, "aggregate-final", "2026-W11", policy=POLICY) is None  # not automatically
        by_hand = claims.claim(db.engine, "aggregate-final", "2026-W11", policy=POLICY, manual=True)
        assert by_hand is not None and by_hand.scheduled_for == moment and by_hand.attempts == 1
        claims.finish(db.engine, by_hand, True, "done")
        assert claims.claim(db.engine, "aggregate-final", "2026-W11", policy=POLICY, manual=True) is None
        assert claims.claim(db.engine, "aggregate-final", "2026-W11", policy=POLICY, manual=True, again=True)


def test_the_heartbeat_keeps_a_lease_and_notices_a_takeover(app: Flask) -> None:
    with app.app_context():
        held = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=FAST)
        with claims.Lease(db.engine, held, FAST) as lease:
            first_beat = _row(held.id).heartbeat_at
            time.sleep(0.35)
            assert _row(held.id).heartbeat_at > first_beat  # refreshed, on its own connection
            assert not lease.lost.is_set()
            lease.check()
            _set(held.id, owner=ELSEWHERE)  # another process took it over
            assert lease.lost.wait(2), "the heartbeat did not notice the takeover"
            with pytest.raises(claims.LeaseLost, match="taken over"):
                lease.check()
        assert _row(held.id).owner == ELSEWHERE  # the heartbeat never writes over another's claim


def test_a_run_whose_claim_was_taken_over_cannot_commit(app: Flask) -> None:
    """The fence: every commit of the job's thread checks, in the job's transaction, that the claim is still its
    own; once it is not, the commit is refused and nothing of the transaction stays."""
    with app.app_context():
        held = claims.claim(db.engine, "aggregate-final", "2026-W10", policy=POLICY)
        with claims.Lease(db.engine, held, POLICY) as lease, lease.fenced():
            with db.engine.begin() as connection:  # still ours: commits
                connection.execute(InstanceFact.__table__.insert().values(key="fence-1", value="kept",
                                                                           recorded_at=utcnow()))
            # Another process takes it over between two of the job's transactions.
            takeover = threading.Thread(target=_set, args=(held.id, db.engine), kwargs={"owner": ELSEWHERE})
            takeover.start()
            takeover.join()
            with pytest.raises(claims.LeaseLost, match="commit refused"):
                with db.engine.begin() as connection:
                    connection.execute(InstanceFact.__table__.insert().values(key="fence-2", value="lost",
                                                                               recorded_at=utcnow()))
            assert lease.lost.is_set()
        # Outside the fenced block (another thread, or after the run) commits are not checked.
        with db.engine.begin() as connection:
            keys = set(connection.scalars(select(InstanceFact.key).where(InstanceFact.key.like("fence-%"))))
        assert keys == {"fence-1"}


def test_a_handed_back_run_cannot_commit_either(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        held = claims.claim(engine, "aggregate-final", "2026-W10", policy=POLICY)
        committed = threading.Event()
        refused: list[BaseException] = []
        release = threading.Event()

        def job() -> None:
            with claims.Lease(engine, held, POLICY) as lease, lease.fenced():
                release.wait(5)
                try:
                    with engine.begin() as connection:
                        connection.execute(InstanceFact.__table__.insert().values(key="late", value="x",
                                                                                   recorded_at=utcnow()))
                    committed.set()
                except claims.LeaseLost as exc:
                    refused.append(exc)

        worker = threading.Thread(target=job)
        worker.start()
        time.sleep(0.1)
        (lease,) = claims.live_leases()
        assert lease.hand_back("interrupted: shutdown")
        release.set()
        worker.join(5)
        assert refused and not committed.is_set()
        assert _row(held.id).status == "interrupted"
        assert db.session.scalar(select(func.count()).select_from(InstanceFact).where(InstanceFact.key == "late")) == 0


def test_attention_lists_missed_stale_and_abandoned_runs(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        stale = claims.claim(db.engine, "aggregate-final", "2026-W10")
        _set(stale.id, owner=ELSEWHERE, heartbeat_at=now - dt.timedelta(minutes=3))
        fresh = claims.claim(db.engine, "aggregate-final", "2026-W12")
        _set(fresh.id, owner=ELSEWHERE, heartbeat_at=now)
        claims.record_missed(db.engine, "aggregate-final", "2026-W11", now, "missed: no scheduler")
        gave_up = claims.claim(db.engine, "weekly-reminders", "2026-03-02")
        claims.finish(db.engine, gave_up, False, "RuntimeError: no")
        _set(gave_up.id, attempts=5)
        seen = claims.attention(db.engine, POLICY, now)
        assert [r.period for r in seen.missed] == ["2026-W11"]
        assert [r.period for r in seen.stale] == ["2026-W10"]
        assert [r.period for r in seen.gave_up] == ["2026-03-02"]
        assert claims.dismiss(db.engine, "aggregate-final", "2026-W11", "dismissed: figures checked by hand")
        assert _row(claims.get(db.engine, "aggregate-final", "2026-W11").id).detail.startswith(
            "dismissed: figures checked by hand; was: missed")
        assert not claims.attention(db.engine, POLICY, now).missed


def test_prune_keeps_recent_claims(app: Flask) -> None:
    with app.app_context():
        old = claims.claim(db.engine, "send-mail", "2026-01-01T10:00")
        claims.finish(db.engine, old, True)
        recent = claims.claim(db.engine, "send-mail", "2026-03-02T10:00")
        claims.finish(db.engine, recent, True)
        claims.record_missed(db.engine, "aggregate-final", "2026-W01", utcnow(), "missed")
        with db.engine.begin() as connection:
            connection.execute(update(JobRun).where(JobRun.id == old.id)
                               .values(started_at=utcnow() - dt.timedelta(days=40)))
            connection.execute(update(JobRun).where(JobRun.period == "2026-W01")
                               .values(started_at=utcnow() - dt.timedelta(days=40)))
        assert claims.prune(db.engine, dt.timedelta(days=30), dt.timedelta(days=180)) == 1
        assert [r.period for r in claims.recent_runs(db.engine, "send-mail")] == ["2026-03-02T10:00"]
        assert claims.get(db.engine, "aggregate-final", "2026-W01") is not None  # missed: kept like failures


def test_the_lease_must_outlast_several_heartbeats() -> None:
    with pytest.raises(ValueError, match="at least three heartbeats"):
        claims.Policy(lease=dt.timedelta(seconds=20), heartbeat=dt.timedelta(seconds=10))
    with pytest.raises(ValueError, match="MAX_ATTEMPTS"):
        claims.Policy(max_attempts=0)
