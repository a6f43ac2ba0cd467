"""Per-period claims on periodic jobs (``job_runs``, unique on job name + period), held as leases.

Before a job runs for a period (an hour, a week, a minute) it inserts a claim row. The unique key means a
second scheduler process, a restart inside the same period or a manual re-run cannot run the same period
twice: the second claim is refused. Claims are written on their own connection and committed at once, apart
from the job's transaction.

A running claim is a **lease**. Its holder (``owner``: host, pid, a random run id) refreshes ``heartbeat_at``
every ``Policy.heartbeat`` (10 s) from a thread of its own, on a connection of its own; a running claim whose
heartbeat is older than ``Policy.lease`` (90 s) belongs to a process that died or froze, whatever the job, and
may be taken over. On the same host (same kernel boot and PID namespace) a claim whose process is gone is taken
over at once, without waiting for the lease. A failed claim is retried after a backoff, an interrupted one
(handed back at shutdown) at once, both until ``Policy.max_attempts`` starts; a missed, dismissed or succeeded
one only by hand. Every takeover is a compare-and-set update, so exactly one contender wins.

A lease that is lost (taken over, or handed back at shutdown) stops its run from committing more: while a job
runs, every commit on the app's engine from the job's thread first checks, inside the job's transaction, that the
claim is still this run's (``fenced``; on PostgreSQL the check locks the claim row until the commit, so a
takeover and a commit are strictly ordered) and refuses the commit (``LeaseLost``) otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, event, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from reporting.models import JobRun, utcnow

log = logging.getLogger(__name__)

DETAIL_LIMIT = 4000
RUNNING, SUCCEEDED, FAILED, INTERRUPTED, MISSED, DISMISSED = (
    "running", "succeeded", "failed", "interrupted", "missed", "dismissed")


class LeaseLost(RuntimeError):
    """This run's claim is no longer its own (taken over, or handed back at shutdown): it must not commit."""


@dataclass(frozen=True)
class Policy:
    """How claims are held and retried (``COVIDMETER_JOB_*``; docs: README, configuration)."""

    lease: dt.timedelta = dt.timedelta(seconds=90)
    heartbeat: dt.timedelta = dt.timedelta(seconds=10)
    max_attempts: int = 5
    retry_after: dt.timedelta = dt.timedelta(minutes=2)  # after a failure; doubles per attempt ...
    retry_after_max: dt.timedelta = dt.timedelta(minutes=30)  # ... up to this

    def __post_init__(self) -> None:
        if self.heartbeat.total_seconds() <= 0 or self.lease < 3 * self.heartbeat:
            raise ValueError(f"the job lease ({self.lease.total_seconds():g} s) must be at least three heartbeats "
                             f"({self.heartbeat.total_seconds():g} s each): set COVIDMETER_JOB_LEASE_SECONDS and "
                             "COVIDMETER_JOB_HEARTBEAT_SECONDS accordingly")
        if self.max_attempts < 1:
            raise ValueError("COVIDMETER_JOB_MAX_ATTEMPTS must be at least 1")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Policy":
        return cls(lease=dt.timedelta(seconds=config.get("COVIDMETER_JOB_LEASE_SECONDS") or 90),
                   heartbeat=dt.timedelta(seconds=config.get("COVIDMETER_JOB_HEARTBEAT_SECONDS") or 10),
                   max_attempts=config.get("COVIDMETER_JOB_MAX_ATTEMPTS") or 5)

    def retry_delay(self, attempts: int) -> dt.timedelta:
        return min(self.retry_after * 2 ** max(attempts - 1, 0), self.retry_after_max)


# --- who holds a claim -------------------------------------------------------------------------------------

def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _host_key() -> str:
    """This kernel boot and PID namespace: two processes with the same key can see each other's PIDs."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    if not boot or not namespace:
        return "-"
    return f"{boot[:8]}.{''.join(ch for ch in namespace if ch.isdigit())}"


def new_owner() -> str:
    """``host:pid:hostkey:run``, unique for every claim taken."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{_host_key()}:{secrets.token_hex(4)}"


def owner_label(owner: str | None) -> str:
    """``host pid N`` for people (no run id)."""
    if not owner:
        return "unknown process"
    parts = owner.split(":")
    return f"{parts[0]} pid {parts[1]}" if len(parts) >= 2 else owner


def owner_is_dead(owner: str | None) -> bool:
    """True only when the holder is known to be gone: it ran on this host and PID namespace (same boot), and its
    PID is free, a zombie, or this very process, which holds no such lease. Otherwise (another host, another
    container, no /proc) False: only the lease can tell."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 4 or parts[2] == "-" or parts[2] != _host_key():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return owner not in _live_owners()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = _read(f"/proc/{pid}/stat")  # "pid (comm) S ...": a zombie has exited
    return bool(stat) and stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


# --- claiming ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    id: int
    job_name: str
    period: str
    owner: str = ""
    attempts: int = 1
    scheduled_for: dt.datetime | None = None
    note: str | None = None  # why it was taken over, when it was


def _last_sign_of_life(row: Any) -> dt.datetime:
    return row.heartbeat_at or row.started_at


def is_stale(row: Any, policy: Policy, now: dt.datetime | None = None) -> bool:
    """A running claim whose holder stopped refreshing it (or is known dead); never one of this process's."""
    if row.status != RUNNING or row.owner in _live_owners():
        return False
    now = now or utcnow()
    return _last_sign_of_life(row) < now - policy.lease or owner_is_dead(row.owner)


def retry_due(row: Any, policy: Policy, now: dt.datetime | None = None) -> dt.datetime | None:
    """When a failed or interrupted claim may be retried automatically (None: never)."""
    if row.status not in (FAILED, INTERRUPTED) or row.attempts >= policy.max_attempts:
        return None
    if row.status == INTERRUPTED:  # handed back at shutdown: nothing wrong with it, at once
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return (row.finished_at or row.started_at) + policy.retry_delay(row.attempts)


def takeover_reason(row: Any, policy: Policy, now: dt.datetime, manual: bool = False,
                    again: bool = False) -> str | None:
    """Why ``row`` may be taken over now (None: it may not)."""
    when = f"{row.started_at:%Y-%m-%d %H:%M:%S}Z"
    if row.status == RUNNING:
        if not is_stale(row, policy, now) or (row.attempts >= policy.max_attempts and not manual):
            return None  # (a run that killed its process every time is not started again by itself)
        last = _last_sign_of_life(row)
        if last < now - policy.lease:
            return (f"taken over from a stale running claim started {when} by {owner_label(row.owner)} "
                    f"(no heartbeat since {last:%H:%M:%S}Z)")
        return f"taken over from a running claim started {when} by {owner_label(row.owner)}, which has exited"
    if row.status in (FAILED, INTERRUPTED):
        due = retry_due(row, policy, now)
        if manual or (due is not None and due <= now):
            article = "an" if row.status == INTERRUPTED else "a"
            return f"taken over from {article} {row.status} claim started {when} (attempt {row.attempts})"
        return None
    if row.status == MISSED and manual:
        return f"run by hand after it was missed (recorded {when})"
    if row.status in (SUCCEEDED, DISMISSED) and manual and again:
        return f"run again by hand after it {row.status} (started {when})"
    return None


def claim(engine: Engine, job_name: str, period: str, *, policy: Policy | None = None,
          scheduled_for: dt.datetime | None = None, manual: bool = False, again: bool = False,
          now: dt.datetime | None = None) -> Claim | None:
    """Claim ``job_name`` for ``period``; None when another run holds it, it succeeded, or it may not be retried
    now (see ``takeover_reason``). ``manual``: an operator's run, which also takes failed, interrupted and missed
    periods whatever their attempts, and with ``again`` succeeded and dismissed ones."""
    policy = policy or Policy()
    now = now or utcnow()
    owner = new_owner()
    with _registry_lock:  # this process's own from now on: never "dead" to a check here, even before its Lease
        _live.setdefault(owner, None)
    taken = _claim(engine, job_name, period, owner, policy, scheduled_for, manual, again, now)
    if taken is None:
        with _registry_lock:
            _live.pop(owner, None)
    return taken


def _claim(engine: Engine, job_name: str, period: str, owner: str, policy: Policy,
           scheduled_for: dt.datetime | None, manual: bool, again: bool, now: dt.datetime) -> Claim | None:
    table = JobRun.__table__
    scheduled = scheduled_for.astimezone(dt.timezone.utc) if scheduled_for is not None else None
    try:
        with engine.begin() as connection:
            row_id = connection.execute(
                insert(table).values(job_name=job_name, period=period, status=RUNNING, started_at=now,
                                     heartbeat_at=now, owner=owner, attempts=1, scheduled_for=scheduled)
                .returning(table.c.id)).scalar_one()
        return Claim(row_id, job_name, period, owner, 1, scheduled)
    except IntegrityError:
        pass
    with engine.begin() as connection:
        existing = connection.execute(
            select(table).where(table.c.job_name == job_name, table.c.period == period)).one_or_none()
        if existing is None:  # deleted meanwhile: try once more from the start
            return _claim(engine, job_name, period, owner, policy, scheduled_for, manual, again, now)
        reason = takeover_reason(existing, policy, now, manual, again)
        if reason is None:
            return None
        scheduled = existing.scheduled_for or scheduled
        taken = connection.execute(
            update(table)
            .where(table.c.id == existing.id, table.c.status == existing.status,
                   table.c.attempts == existing.attempts, table.c.started_at == existing.started_at,
                   table.c.heartbeat_at.is_not_distinct_from(existing.heartbeat_at),
                   table.c.owner.is_not_distinct_from(existing.owner))
            .values(status=RUNNING, started_at=now, finished_at=None, heartbeat_at=now, owner=owner,
                    attempts=existing.attempts + 1, scheduled_for=scheduled, detail=reason[:DETAIL_LIMIT])
        ).rowcount
    if taken != 1:
        return None
    log.warning("job %s for %s: %s", job_name, period, reason)
    return Claim(existing.id, job_name, period, owner, existing.attempts + 1, scheduled, reason)


def _release(engine: Engine, claimed: Claim, status: str, detail: str | None) -> bool:
    """Compare-and-set the end of a run: only while the claim is still this run's."""
    table = JobRun.__table__
    if detail and claimed.attempts > 1:
        detail = f"{detail} (attempt {claimed.attempts})"
    with engine.begin() as connection:
        return connection.execute(
            update(table).where(table.c.id == claimed.id, table.c.status == RUNNING, table.c.owner == claimed.owner)
            .values(status=status, finished_at=utcnow(), detail=(detail or "")[:DETAIL_LIMIT] or None)
        ).rowcount == 1


def finish(engine: Engine, claimed: Claim, succeeded: bool, detail: str | None = None) -> bool:
    """Record the outcome; False (and nothing written) when the claim was taken over meanwhile."""
    return _release(engine, claimed, SUCCEEDED if succeeded else FAILED, detail)


def hand_back(engine: Engine, claimed: Claim, detail: str) -> bool:
    """Give the claim up unfinished (shutdown): 'interrupted', re-run at once by the next scheduler."""
    return _release(engine, claimed, INTERRUPTED, detail)


def heartbeat(engine: Engine, claimed: Claim) -> bool:
    """Refresh the lease; False when the claim is no longer this run's."""
    table = JobRun.__table__
    with engine.begin() as connection:
        return connection.execute(
            update(table).where(table.c.id == claimed.id, table.c.status == RUNNING, table.c.owner == claimed.owner)
            .values(heartbeat_at=utcnow())).rowcount == 1


# --- the lease while a job runs ----------------------------------------------------------------------------

_registry_lock = threading.Condition()
# owner -> its Lease while the job runs (None for a claim taken here and not yet, or never, run under one): the
# claims of this process, which no check here takes for a dead process's.
_live: dict[str, "Lease | None"] = {}


def _live_owners() -> set[str]:
    with _registry_lock:
        return set(_live)


def live_leases() -> list["Lease"]:
    with _registry_lock:
        return [lease for lease in _live.values() if lease is not None]


def wait_for_leases(timeout: float, hurry: threading.Event | None = None) -> list["Lease"]:
    """Wait until this process holds no lease, at most ``timeout`` seconds (or until ``hurry`` is set); return
    those still held."""
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=timeout)
    with _registry_lock:
        while any(_live.values()) and not (hurry is not None and hurry.is_set()):
            left = (deadline - dt.datetime.now(dt.timezone.utc)).total_seconds()
            if left <= 0:
                break
            _registry_lock.wait(min(left, 0.2))
        return [lease for lease in _live.values() if lease is not None]


class Lease:
    """Holds a claim while its job runs: a heartbeat thread, the fence, and the end of the run.

    ``lost`` is set when the claim stopped being this run's: the heartbeat found it taken over, or this process
    handed it back. ``check()`` raises ``LeaseLost`` then (a job may call it between steps)."""

    def __init__(self, engine: Engine, claimed: Claim, policy: Policy) -> None:
        self.engine, self.claim, self.policy = engine, claimed, policy
        self.lost = threading.Event()
        self.lost_reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ended = False
        self._end_lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"job {self.claim.job_name} for {self.claim.period}"

    def __enter__(self) -> "Lease":
        with _registry_lock:
            _live[self.claim.owner] = self
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.claim.job_name} {self.claim.period}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        with _registry_lock:
            _live.pop(self.claim.owner, None)
            _registry_lock.notify_all()

    def _beat(self) -> None:
        last_ok = dt.datetime.now(dt.timezone.utc)
        warned = False
        while not self._stop.wait(self.policy.heartbeat.total_seconds()):
            try:
                still_ours = heartbeat(self.engine, self.claim)
            except Exception as exc:  # the database is away: keep trying; the fence guards the commits
                age = dt.datetime.now(dt.timezone.utc) - last_ok
                log.warning("%s: heartbeat failed (%s: %s); last one %.0f s ago", self.label,
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", age.total_seconds())
                if age > self.policy.lease and not warned:
                    warned = True
                    log.error("%s: no heartbeat written for %.0f s, longer than the lease: another scheduler may "
                              "take the claim over, and then this run's commits are refused", self.label,
                              age.total_seconds())
                continue
            if self._stop.is_set() or self._ended:  # the run ended meanwhile (its own end made the update miss)
                return
            if not still_ours:
                self._mark_lost("its claim was taken over by another process (its heartbeat was older than the "
                                f"{self.policy.lease.total_seconds():g} s lease)")
                log.error("%s: %s; this run stops: its further commits are refused", self.label, self.lost_reason)
                return
            last_ok, warned = dt.datetime.now(dt.timezone.utc), False

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"{self.label}: {self.lost_reason}")

    def finish(self, succeeded: bool, detail: str | None) -> bool:
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
            return finish(self.engine, self.claim, succeeded, detail)

    def hand_back(self, detail: str) -> bool:
        """Give the claim back ('interrupted'); the run, if it goes on, can no longer commit."""
        self._mark_lost(f"handed back: {detail}")
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
            return hand_back(self.engine, self.claim, detail)

    @contextmanager
    def fenced(self) -> Iterator["Lease"]:
        """Commits on ``self.engine`` from this thread are refused once the claim is no longer this run's."""
        install_fence(self.engine)
        previous = getattr(_fence, "lease", None)
        _fence.lease = self
        try:
            yield self
        finally:
            _fence.lease = previous


_fence = threading.local()
_fenced_engines: set[int] = set()
_fence_install = threading.Lock()


def install_fence(engine: Engine) -> None:
    with _fence_install:
        if id(engine) in _fenced_engines:
            return
        event.listen(engine, "commit", _check_before_commit)
        _fenced_engines.add(id(engine))


def _check_before_commit(connection: Any) -> None:
    lease: Lease | None = getattr(_fence, "lease", None)
    if lease is None or connection.engine is not lease.engine:
        return
    if not lease.lost.is_set():
        postgresql = connection.dialect.name == "postgresql"
        sql = ("SELECT status, owner FROM job_runs WHERE id = %s FOR UPDATE" if postgresql
               else "SELECT status, owner FROM job_runs WHERE id = ?")
        cursor = connection.connection.cursor()  # the job's own transaction, below SQLAlchemy's bookkeeping
        try:
            cursor.execute(sql, (lease.claim.id,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None or row[0] != RUNNING or row[1] != lease.claim.owner:
            lease._mark_lost("its claim is now " + (f"{row[0]}, held by {owner_label(row[1])}" if row else "gone"))
    if lease.lost.is_set():
        log.error("%s: commit refused: %s", lease.label, lease.lost_reason)
        raise LeaseLost(f"{lease.label}: commit refused: {lease.lost_reason}")


# --- reading and housekeeping ------------------------------------------------------------------------------

def claimed(engine: Engine, job_name: str, period: str) -> bool:
    """Whether any claim (whatever its status) exists for ``job_name`` and ``period``."""
    table = JobRun.__table__
    with engine.connect() as connection:
        return connection.scalar(select(table.c.id).where(table.c.job_name == job_name,
                                                          table.c.period == period)) is not None


def get(engine: Engine, job_name: str, period: str) -> JobRun | None:
    table = JobRun.__table__
    with engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.job_name == job_name,
                                                     table.c.period == period)).mappings().one_or_none()
    return JobRun(**row) if row is not None else None


def recent_runs(engine: Engine, job_name: str, limit: int = 5) -> list[JobRun]:
    table = JobRun.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(table.c.job_name == job_name)
                                  .order_by(table.c.started_at.desc(), table.c.id.desc()).limit(limit)).mappings()
        return [JobRun(**row) for row in rows]


def open_claims(engine: Engine, job_name: str, since: dt.datetime | None = None) -> list[JobRun]:
    """The job's claims that may still need a run: every running one, and failed and interrupted ones started
    since ``since`` (a claim starts after the time it is for, so those within the job's grace are among them)."""
    table = JobRun.__table__
    retryable = table.c.status.in_((FAILED, INTERRUPTED))
    if since is not None:
        retryable = retryable & (table.c.started_at >= since)
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(
            table.c.job_name == job_name, or_(table.c.status == RUNNING, retryable))
            .order_by(table.c.id)).mappings()
        return [JobRun(**row) for row in rows]


def latest_scheduled(engine: Engine, job_name: str) -> dt.datetime | None:
    """The scheduled time of the job's newest claim (its start for claims made before they recorded it)."""
    table = JobRun.__table__
    with engine.connect() as connection:
        value = connection.scalar(select(func.max(func.coalesce(table.c.scheduled_for, table.c.started_at)))
                                  .where(table.c.job_name == job_name))
    if isinstance(value, str):  # SQLite returns an aggregate of the column's text as is
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def record_missed(engine: Engine, job_name: str, period: str, scheduled_for: dt.datetime, detail: str,
                  replace: JobRun | None = None) -> bool:
    """Record that ``period`` was not run within its grace: a 'missed' row (or ``replace``, a stale or failed
    claim of it, turned into one by compare-and-set). False when someone else recorded or ran it meanwhile."""
    table = JobRun.__table__
    now = utcnow()
    values = dict(status=MISSED, finished_at=now, heartbeat_at=None, detail=detail[:DETAIL_LIMIT],
                  scheduled_for=scheduled_for.astimezone(dt.timezone.utc))
    if replace is not None:
        with engine.begin() as connection:
            return connection.execute(update(table).where(
                table.c.id == replace.id, table.c.status == replace.status, table.c.attempts == replace.attempts,
                table.c.heartbeat_at.is_not_distinct_from(replace.heartbeat_at)).values(**values)).rowcount == 1
    try:
        with engine.begin() as connection:
            connection.execute(insert(table).values(job_name=job_name, period=period, started_at=now, attempts=0,
                                                    **values))
    except IntegrityError:
        return False
    return True


def end_stale(engine: Engine, row: JobRun, status: str, detail: str) -> bool:
    """End a stale claim that will not be re-run (compare-and-set): 'interrupted' when its job's later runs do its
    work, 'failed' when its runs died ``max_attempts`` times."""
    table = JobRun.__table__
    with engine.begin() as connection:
        return connection.execute(update(table).where(
            table.c.id == row.id, table.c.status == RUNNING,
            table.c.heartbeat_at.is_not_distinct_from(row.heartbeat_at), table.c.owner.is_not_distinct_from(row.owner))
            .values(status=status, finished_at=utcnow(), detail=detail[:DETAIL_LIMIT])).rowcount == 1


def dismiss(engine: Engine, job_name: str, period: str, note: str) -> bool:
    """An operator says a missed run will not be run: 'dismissed' (no longer reported)."""
    table = JobRun.__table__
    with engine.begin() as connection:
        return connection.execute(update(table).where(
            table.c.job_name == job_name, table.c.period == period, table.c.status.in_((MISSED, FAILED, INTERRUPTED)))
            .values(status=DISMISSED, finished_at=utcnow(),
                    detail=func.substr(note + "; was: " + func.coalesce(table.c.detail, ""), 1, DETAIL_LIMIT))
        ).rowcount == 1


@dataclass(frozen=True)
class Attention:
    """What an operator should look at: missed runs, stale running claims, failures no longer retried."""

    missed: list[JobRun]
    stale: list[JobRun]
    gave_up: list[JobRun]

    def __bool__(self) -> bool:
        return bool(self.missed or self.stale or self.gave_up)


def attention(engine: Engine, policy: Policy, now: dt.datetime | None = None, limit: int = 20,
              gave_up_within: dt.timedelta = dt.timedelta(days=7)) -> Attention:
    now = now or utcnow()
    table = JobRun.__table__
    with engine.connect() as connection:
        rows = [JobRun(**r) for r in connection.execute(select(table).where(or_(
            table.c.status.in_((MISSED, RUNNING)),
            (table.c.status == FAILED) & (table.c.attempts >= policy.max_attempts)
            & (table.c.started_at >= now - gave_up_within)))
            .order_by(table.c.started_at.desc(), table.c.id.desc())).mappings()]
    return Attention(missed=[r for r in rows if r.status == MISSED][:limit],
                     stale=[r for r in rows if r.status == RUNNING and is_stale(r, policy, now)][:limit],
                     gave_up=[r for r in rows if r.status == FAILED][:limit])


def prune(engine: Engine, succeeded_older_than: dt.timedelta, failed_older_than: dt.timedelta) -> int:
    """Delete old claims (the claim only matters while its period can still be re-run). Failed, interrupted,
    missed and dismissed claims are kept as long as failed ones."""
    table = JobRun.__table__
    now = utcnow()
    with engine.begin() as connection:
        return connection.execute(delete(table).where(
            ((table.c.status == SUCCEEDED) & (table.c.started_at < now - succeeded_older_than))
            | (table.c.status.in_((FAILED, INTERRUPTED, MISSED, DISMISSED))
               & (table.c.started_at < now - failed_older_than)))).rowcount


def current_lease() -> Lease | None:
    """The lease of the job running in this thread, if any (a job may ``check()`` it between steps)."""
    return getattr(_fence, "lease", None)
