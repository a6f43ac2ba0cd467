"""Benchmark: weekly-report submissions per second and their latency through gunicorn on PostgreSQL,
against a bare endpoint that inserts one row, measured in the same run.

    python bench/submit.py                      # the default ramp: 200 ... 2400 requests/s, 10 s each
    python bench/submit.py --rates 300 600 --seconds 5 --workers 4 --threads 4
    python bench/submit.py --in-process 2000    # CPU per request in one process, without HTTP
    python bench/submit.py --server granian --workers 2 --threads 8   # the same through granian (pip install granian)

What it does:
- creates a fresh PostgreSQL database (default covidmeter_bench_submit; dropped at the end unless --keep),
  builds the schema with the migrations, and writes accounts, profiles and bearer sessions directly (a
  session per account, stored hashed as the API stores them), one profile per request to be sent, so
  every request stores a new weekly report;
- starts gunicorn (``-k gthread``, by default one process more than there are cores, 6 threads each) for
  the real app ('wsgi:create_app()', production settings, rate limits on and kept in Redis, as in
  production with several web processes; --redis none keeps them in each process's memory) and then,
  with the same settings, for bench/bare_app.py (one INSERT via psycopg);
- warms each up (a burst, so that every thread has its database connection, then a trickle; not counted)
  and drives it with an OPEN-LOOP load generator: request i of a step is sent at t0 + i/rate whatever
  happened to the earlier ones (on the keep-alive connection idle longest, or a new one when all are
  busy), and its latency is measured from that scheduled time, so queueing in the client, the server or
  the database shows as latency instead of silently lowering the rate (a closed loop would hide it). The
  generator is a minimal HTTP/1.1 client on asyncio (requests built before the step, responses read for
  status and length only), so it needs little of the CPU it shares with the server; its CPU is reported;
- POSTs /api/v1/me/profiles/<id>/reports with a fresh submission id and a realistic mix of answers (85 %
  "no symptoms", 15 % ill with the follow-up questions), counts every answer but 201, or one later than
  --timeout seconds, as an error; between steps it waits until the server answers a probe quickly again;
- measures where the CPU went during each step (from /proc: gunicorn's processes, the PostgreSQL
  backends of the benchmark database, Redis, the load generator, and the whole machine, so that work by
  anything else on the machine shows);
- prints a table (offered rate, achieved rate, p50, p99, errors, and app/bare throughput), each target's
  best rate, the CPU per request, and saves a plot of latency against offered rate to
  bench/results/submit.png (and the figures to bench/results/submit.json).

gunicorn, PostgreSQL, Redis and the load generator share the machine; say so when quoting the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from reporting.migrate import upgrade  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TODAY = dt.date.today().isoformat()
ILL_ANSWERS = {"symptoms": ["fever", "cough", "tiredness"], "persistent_cough": "no", "severe_fatigue": "yes",
               "same_illness": "no", "symptom_start": TODAY, "still_ill": "yes", "sudden_onset": "yes",
               "fever_start": TODAY, "fever_sudden": "yes", "temperature_measured": "yes",
               "highest_temperature": "38_38.9", "care": ["no"], "tested": "antigen", "test_result": "negative",
               "flu_tested": "no", "days_off": 1}
WELL_ANSWERS = {"symptoms": ["none"]}
ILL_EVERY = (3, 20)  # 3 requests in 20 (15 %) report illness, spread evenly through every step
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Not counted: a burst that gets every gunicorn thread its own database connection (a new PostgreSQL
# backend is slow until its caches are warm, and psycopg prepares a statement at its fifth use on a
# connection), then a steady trickle.
WARM_UP = ((400, 1000), (300, 100))  # (requests, per second)


@dataclass
class Step:
    target: str
    offered: int
    seconds: float
    sent: int
    ok: int
    errors: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    # CPU milliseconds per completed request, by whom, and the machine's load during the step.
    cpu_ms: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all cores busy (anything on the machine)


# --- the database ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_dsn(base: str) -> str:
    return base.rsplit("/", 1)[0] + "/postgres"


def create_database(base: str, name: str) -> str:
    with psycopg.connect(admin_dsn(base), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def drop_database(base: str, name: str) -> None:
    with psycopg.connect(admin_dsn(base), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(dsn: str, profiles: int) -> list[tuple[str, str]]:
    """Accounts with one profile and one bearer session each. Returns (access token, profile id) pairs."""
    upgrade(dsn.replace("postgresql://", "postgresql+psycopg://"))
    from bench.bare_app import SCHEMA

    now = dt.datetime.now(dt.timezone.utc)
    pairs = []
    municipalities = [101, 751, 461, 851, 265, 147, 561, 615]
    with psycopg.connect(dsn) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor:
            with cursor.copy("COPY accounts (id, email, language, status, created_at, confirmed_at, reminder_weekday) "
                             "FROM STDIN") as copy:
                for i in range(1, profiles + 1):
                    copy.write_row((i, f"bench-{i}@example.invalid", "da", "active", now, now, i % 7))
            with cursor.copy("COPY profiles (id, account_id, relation, birth_year, sex, municipality_code, "
                             "intake_version, intake_answers, created_at, updated_at) FROM STDIN") as copy:
                for i in range(1, profiles + 1):
                    profile_id = secrets.token_hex(16)
                    year = 1940 + i % 60
                    code = municipalities[i % len(municipalities)]
                    sex = ("female", "male")[i % 2]
                    copy.write_row((profile_id, i, "self", year, sex, code, "intake-2",
                                    json.dumps({"birth_year": year, "sex": sex, "municipality": code,
                                                "household_size": 2}), now, now))
                    token = "cmm_" + secrets.token_urlsafe(32)
                    pairs.append((token, profile_id))
            with cursor.copy("COPY user_sessions (session_hash, account_id, created_at, last_seen_at, expires_at) "
                             "FROM STDIN") as copy:
                for i, (token, _) in enumerate(pairs, start=1):
                    copy.write_row((hashlib.sha256(token.encode()).hexdigest(), i, now, now,
                                    now + dt.timedelta(days=1)))
            cursor.execute("SELECT setval('accounts_id_seq', %s)", (profiles,))
        connection.commit()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return pairs


def request_body(index: int) -> bytes:
    ill = index % ILL_EVERY[1] < ILL_EVERY[0]
    return json.dumps({"submission_id": f"bench-{index:08d}-{secrets.token_hex(6)}",
                       "answers": ILL_ANSWERS if ill else WELL_ANSWERS}).encode()


# --- gunicorn ----------------------------------------------------------------------------------------------------

def start_server(app: str, port: int, env: dict[str, str], workers: int, threads: int, chdir: Path,
                 worker_class: str = "gthread", server: str = "gunicorn") -> subprocess.Popen:
    """The WSGI server for ``app`` ("module:object", or "module:factory()"): gunicorn, or granian (a Rust HTTP
    server running the same WSGI app on ``threads`` blocking threads per worker process)."""
    if server == "granian":
        target, factory = (app[:-2], ["--factory"]) if app.endswith("()") else (app, [])
        command = [sys.executable, "-m", "granian", "--interface", "wsgi", *factory, "--workers", str(workers),
                   "--blocking-threads", str(threads), "--host", "127.0.0.1", "--port", str(port),
                   "--backlog", "4096", "--log-level", "warning", "--no-access-log", "--working-dir", str(chdir),
                   target]
    else:
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", worker_class, "--threads",
                   str(threads), "-b", f"127.0.0.1:{port}", "--backlog", "4096", "--keep-alive", "30",
                   "--log-level", "warning", "--chdir", str(chdir), app]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{server} for {app} exited with {process.returncode}")
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{server} for {app} did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- where the CPU goes (Linux /proc) ---------------------------------------------------------------------------

def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class _CpuSnapshot:
    server: dict[int, float]  # gunicorn's processes: pid -> CPU seconds
    postgres: dict[int, float]  # the benchmark database's backends
    redis: float
    client: float  # this process
    machine: tuple[int, int]  # (busy, total) jiffies


class CpuMeter:
    """CPU used between ``start`` and ``stop`` by the parts of the benchmark, read from /proc."""

    def __init__(self, server_pid: int, dsn: str, redis_url: str | None) -> None:
        self.server_pid, self.dsn, self.redis_url = server_pid, dsn, redis_url

    def _postgres_pids(self) -> list[int]:
        name = self.dsn.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return [r[0] for r in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]

    def _redis_cpu(self) -> float:
        if not self.redis_url:
            return 0.0
        import redis

        info = redis.Redis.from_url(self.redis_url).info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def _read(self) -> _CpuSnapshot:
        server = [self.server_pid, *children_of(self.server_pid)]
        return _CpuSnapshot({p: process_cpu(p) for p in server},
                            {p: process_cpu(p) for p in self._postgres_pids()},
                            self._redis_cpu(), time.process_time(), machine_jiffies())

    def start(self) -> None:
        self.before = self._read()

    def stop(self, requests: int) -> tuple[dict[str, float], float]:
        """CPU milliseconds per request by part, and the share of the machine's cores that were busy."""
        after, before = self._read(), self.before

        def used(now: dict[int, float], then: dict[int, float]) -> float:
            return sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items())  # a new process counts from zero

        spent = {"server": used(after.server, before.server), "postgres": used(after.postgres, before.postgres),
                 "redis": after.redis - before.redis, "client": after.client - before.client}
        busy = (after.machine[0] - before.machine[0]) / max(1, after.machine[1] - before.machine[1])
        return {k: round(1000 * v / max(1, requests), 3) for k, v in spent.items()}, round(busy, 3)


# --- the load generator: open loop over a minimal HTTP/1.1 client --------------------------------------------------

class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; the response is read for its status line,
    Content-Length and Connection headers, and its body skipped."""

    def __init__(self, pool: "Pool") -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: Callable[[int | None], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, payload: bytes, done: Callable[[int | None], None]) -> None:
        self.done = done
        self.buffer.clear()
        self.transport.write(payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if len(self.buffer) < end + 4 + int(headers.get("content-length", 0)):
            return
        done, self.done = self.done, None
        self.buffer.clear()
        if done is not None:
            done(int(lines[0].split(" ", 2)[1]))
        if headers.get("connection") == "close":
            self.transport.close()  # type: ignore[union-attr]
        else:
            self.pool.release(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)
        done, self.done = self.done, None
        if done is not None:
            done(None)


class Pool:
    """Keep-alive connections to one server: the idle one that has waited longest carries the next request
    (so requests rotate over all connections, and so over all of gunicorn's workers, as many separate
    clients' would; reusing the most recent one would pile them onto one worker), else a new one is opened
    (up to ``limit``; beyond, requests wait here, and their latency keeps counting)."""

    def __init__(self, host: str, port: int, limit: int = 4000) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: collections.deque[_Connection] = collections.deque()
        self.busy: set[_Connection] = set()
        self.opening = 0
        self.waiting: collections.deque[tuple[bytes, Callable[[int | None], None]]] = collections.deque()

    def submit(self, payload: bytes, done: Callable[[int | None], None]) -> None:
        if self.idle:
            connection = self.idle.popleft()
            self.busy.add(connection)
            connection.send(payload, done)
        elif len(self.busy) + self.opening < self.limit:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open_and_send(payload, done))
        else:
            self.waiting.append((payload, done))

    async def _open_and_send(self, payload: bytes, done: Callable[[int | None], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            done(None)
            return
        self.opening -= 1
        self.busy.add(connection)
        connection.send(payload, done)

    def release(self, connection: _Connection) -> None:
        if self.waiting:
            payload, done = self.waiting.popleft()
            connection.send(payload, done)
        else:
            self.busy.discard(connection)
            self.idle.append(connection)

    def lost(self, connection: _Connection) -> None:
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if self.waiting and len(self.busy) + self.opening < self.limit:
            self.submit(*self.waiting.popleft())

    def abandon_busy(self) -> None:
        """Close the connections still waiting for an answer (their requests have timed out)."""
        for connection in list(self.busy):
            connection.done = None
            connection.transport.close()  # type: ignore[union-attr]
        self.waiting.clear()

    def close(self) -> None:
        for connection in [*self.idle, *self.busy]:
            connection.transport.close()  # type: ignore[union-attr]


async def open_loop(pool: Pool, payloads: list[bytes], rate: int, timeout: float, expect: int = 201) -> tuple[list[float], int, float]:
    """Send payload i at t0 + i/rate; returns (latencies of the good answers, errors, seconds from t0 to the
    last answer). Latency counts from the scheduled time; an answer later than ``timeout`` is an error."""
    loop = asyncio.get_running_loop()
    total = len(payloads)
    latencies: list[float] = []
    errors = finished = 0
    last = loop.time()
    all_done = loop.create_future()
    t0 = loop.time() + 0.1

    def on_answer(scheduled: float) -> Callable[[int | None], None]:
        def done(status: int | None) -> None:
            nonlocal errors, finished, last
            last = loop.time()
            latency = last - scheduled
            if status == expect and latency <= timeout:
                latencies.append(latency)
            else:
                errors += 1
            finished += 1
            if finished == total and not all_done.done():
                all_done.set_result(None)
        return done

    i = 0
    while i < total:
        now = loop.time()
        while i < total and t0 + i / rate <= now:
            pool.submit(payloads[i], on_answer(t0 + i / rate))
            i += 1
        if i < total:
            await asyncio.sleep(t0 + i / rate - loop.time())
    try:
        await asyncio.wait_for(asyncio.shield(all_done), max(0.0, t0 + total / rate + timeout - loop.time()) + 1)
    except asyncio.TimeoutError:
        errors += total - finished
        pool.abandon_busy()
    return latencies, errors, max(1e-9, last - t0)


async def drained(pool: Pool, probe: bytes, limit: float = 90.0) -> None:
    """Wait until the server answers a cheap request quickly again: an overloaded step (whose requests the
    client gave up on) must not leave a queue behind that the next step is blamed for."""
    loop = asyncio.get_running_loop()
    deadline, quick = loop.time() + limit, 0
    while loop.time() < deadline and quick < 3:
        started = loop.time()
        answered = loop.create_future()
        pool.submit(probe, lambda status: answered.done() or answered.set_result(status))
        try:
            await asyncio.wait_for(answered, 5)
            quick = quick + 1 if loop.time() - started < 0.05 else 0
        except asyncio.TimeoutError:
            pool.abandon_busy()
            quick = 0
        await asyncio.sleep(0.2)


def http_post(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


async def drive(port: int, kind: str, pairs: list[tuple[str, str]], rates: list[int], seconds: float,
                timeout: float, meter: CpuMeter) -> list[Step]:
    """Warm up, then each rate in turn; request i goes to profile i (the app), so every request stores a new
    report. The bare endpoint numbers its requests the same way."""

    def payload(i: int) -> bytes:
        if kind == "app":
            return http_post(port, f"/api/v1/me/profiles/{pairs[i][1]}/reports",
                             {"Authorization": f"Bearer {pairs[i][0]}", "Content-Type": "application/json",
                              "Accept-Language": "da"}, request_body(i))
        return http_post(port, "/", {"Content-Type": "application/json"}, request_body(i))

    probe = f"GET {'/healthz' if kind == 'app' else '/'} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    pool = Pool("127.0.0.1", port)
    steps = []
    try:
        offset = 0
        for count, rate in WARM_UP:
            await drained(pool, probe)
            await open_loop(pool, [payload(offset + i) for i in range(count)], rate, timeout)
            offset += count
        for rate in rates:
            await drained(pool, probe)
            payloads = [payload(offset + i) for i in range(int(rate * seconds))]
            offset += len(payloads)
            meter.start()
            latencies, errors, elapsed = await open_loop(pool, payloads, rate, timeout)
            cpu, busy = meter.stop(len(latencies))
            ordered = sorted(latencies) or [float("nan")]
            pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)  # noqa: E731
            step = Step(kind, rate, seconds, len(payloads), len(latencies), errors, round(len(latencies) / elapsed, 1),
                        pick(0.50), pick(0.99), round(ordered[-1] * 1000, 1), cpu, busy)
            steps.append(step)
            print(f"  {kind:4} {rate:5}/s offered: {step.achieved:7.1f}/s done, p50 {step.p50_ms:7.1f} ms, "
                  f"p99 {step.p99_ms:8.1f} ms, errors {step.errors}; CPU ms/request: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()) + f"; machine {busy:.0%} busy", flush=True)
    finally:
        pool.close()
    return steps


# --- in one process, without HTTP ----------------------------------------------------------------------------------

def in_process(dsn: str, pairs: list[tuple[str, str]], requests: int, env: dict[str, str]) -> None:
    """CPU per request of the app and of the bare endpoint called as WSGI apps in this process, requests
    built beforehand (no HTTP, no gunicorn): what the Python of each costs."""
    from werkzeug.test import EnvironBuilder

    os.environ.update(env)
    from bench.bare_app import app as bare
    from wsgi import create_app

    app = create_app()
    statuses: collections.Counter[str] = collections.Counter()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses[status.split(" ", 1)[0]] += 1

    def environ(kind: str, i: int) -> dict[str, object]:
        if kind == "app":
            return EnvironBuilder(path=f"/api/v1/me/profiles/{pairs[i][1]}/reports", method="POST",
                                  data=request_body(i), headers={
                                      "Authorization": f"Bearer {pairs[i][0]}", "Content-Type": "application/json",
                                      "Accept-Language": "da"}).get_environ()
        return EnvironBuilder(path="/", method="POST", data=request_body(i),
                              headers={"Content-Type": "application/json"}).get_environ()

    index = 0
    for kind, wsgi_app in (("app", app), ("bare", bare)):
        for warm_up, count in ((True, 200), (False, requests)):
            environs = [environ(kind, index + i) for i in range(count)]
            index += count
            statuses.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            for one in environs:
                for _ in wsgi_app(one, start_response):
                    pass
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{kind:4}: {1000 * cpu / requests:.3f} ms CPU and {1000 * wall / requests:.3f} ms wall per request "
              f"({requests} requests, answers {dict(statuses)})")
    print(f"load average {os.getloadavg()[0]:.1f}")


# --- main ----------------------------------------------------------------------------------------------------------

def plot(steps: list[Step], path: Path, note: str, server: str = "gunicorn") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for target, style in (("app", "o-"), ("bare", "s--")):
        rows = [s for s in steps if s.target == target]
        label = "submission API" if target == "app" else "bare INSERT endpoint"
        ax.plot([s.offered for s in rows], [s.p99_ms for s in rows], style, label=f"{label} p99")
        ax.plot([s.offered for s in rows], [s.p50_ms for s in rows], style, alpha=0.45, label=f"{label} p50")
    ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (requests/s, open loop)")
    ax.set_ylabel("latency from scheduled send (ms)")
    ax.set_title(f"Weekly-report submissions through {server} on PostgreSQL")
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, textwrap.fill(note, 125), fontsize=6.5, color="grey")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=120)


def redis_for_bench(url: str) -> str | None:
    if url == "none":
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not reachable at {url} ({exc}); start it, or pass --redis none") from None
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="any database URL on the server; the benchmark database is made beside it")
    parser.add_argument("--database", default="covidmeter_bench_submit")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="Redis for the app's rate limits (one counter per bench session, gone a minute "
                             "later), or 'none' for each process's memory")
    parser.add_argument("--rates", type=int, nargs="+", default=[200, 400, 600, 800, 1000, 1400, 1800, 2400])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=15.0, help="an answer later than this is an error")
    # A few processes with several threads each: a process's threads overlap their waits for PostgreSQL and
    # Redis. On 2 cores 2x8, 3x6 and 4x4 were alike within the noise; 8 processes cost more CPU per request.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--worker-class", default="gthread", help="gunicorn's -k (sync ignores --threads)")
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn",
                        help="the WSGI server for both the app and the bare endpoint")
    parser.add_argument("--only", choices=("app", "bare"), default=None)
    parser.add_argument("--in-process", type=int, metavar="N", default=0,
                        help="instead: N requests to each app called in this process, and their CPU")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    load_before = os.getloadavg()
    redis_url = redis_for_bench(args.redis)
    needed = (2 * args.in_process + 400 if args.in_process
              else sum(count for count, _ in WARM_UP) + sum(int(rate * args.seconds) for rate in args.rates))
    print(f"database {args.database}: preparing {needed:,} accounts, profiles and bearer sessions", flush=True)
    dsn = create_database(args.pg, args.database)
    steps: list[Step] = []
    try:
        pairs = prepare(dsn, needed)
        env = {"COVIDMETER_ENV": "production", "COVIDMETER_DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
               "COVIDMETER_SECRET_KEY": secrets.token_urlsafe(48), "COVIDMETER_BASE_URL": "http://127.0.0.1",
               "BENCH_DATABASE_URL": dsn, "PYTHONPATH": str(ROOT)}
        if redis_url:
            env["COVIDMETER_REDIS_URL"] = redis_url
        if args.in_process:
            in_process(dsn, pairs, args.in_process, env)
            return
        for kind, app, chdir in (("app", "wsgi:create_app()", ROOT), ("bare", "bare_app:app", ROOT / "bench")):
            if args.only and kind != args.only:
                continue
            port = free_port()
            print(f"{args.server} -w {args.workers} -k {args.worker_class} --threads {args.threads} '{app}'",
                  flush=True)
            process = start_server(app, port, env, args.workers, args.threads, chdir, args.worker_class, args.server)
            try:
                meter = CpuMeter(process.pid, dsn, redis_url if kind == "app" else None)
                kind_steps = asyncio.run(drive(port, kind, pairs, args.rates, args.seconds, args.timeout, meter))
                steps += kind_steps
            finally:
                stop(process)
        with psycopg.connect(dsn) as connection:
            reports = connection.execute("SELECT count(*) FROM weekly_reports").fetchone()[0]
        print(f"weekly_reports stored: {reports:,}")
    finally:
        if not args.keep:
            drop_database(args.pg, args.database)

    print()
    print("offered/s | app done/s   p50 ms   p99 ms  err | bare done/s   p50 ms   p99 ms  err | app/bare throughput")
    for rate in args.rates:
        a = next((s for s in steps if s.target == "app" and s.offered == rate), None)
        b = next((s for s in steps if s.target == "bare" and s.offered == rate), None)
        fa = f"{a.achieved:11.1f} {a.p50_ms:8.1f} {a.p99_ms:8.1f} {a.errors:4}" if a else " " * 34
        fb = f"{b.achieved:12.1f} {b.p50_ms:8.1f} {b.p99_ms:8.1f} {b.errors:4}" if b else " " * 35
        ratio = f"{a.achieved / b.achieved:.2f}" if a and b and b.achieved else "-"
        print(f"{rate:9} |{fa} |{fb} | {ratio}")
    print()
    for target in ("app", "bare"):
        rows = [s for s in steps if s.target == target]
        if rows:
            best = max(rows, key=lambda s: s.achieved)
            good = [s.offered for s in rows if s.errors == 0 and s.p99_ms < 100]
            print(f"{target:4}: at most {best.achieved:.0f}/s done (at {best.offered}/s offered); p99 under 100 ms "
                  f"without errors up to {f'{max(good)}/s offered' if good else 'none of the offered rates'}")
    print()
    print(f"CPU ms per request  | {args.server:>8}  postgres  redis  load generator | machine busy (all processes)")
    for s in steps:
        print(f"{s.target:4} {s.offered:5}/s offered | {s.cpu_ms['server']:8.2f} {s.cpu_ms['postgres']:9.2f} "
              f"{s.cpu_ms['redis']:6.2f} {s.cpu_ms['client']:15.2f} | {s.machine_busy:.0%}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_after = os.getloadavg()
    server = (f"gunicorn (-w {args.workers} -k {args.worker_class} --threads {args.threads})"
              if args.server == "gunicorn" else f"granian (--workers {args.workers} --blocking-threads {args.threads})")
    note = (f"{os.cpu_count()} CPUs shared by {server}, PostgreSQL, "
            f"{'Redis, ' if redis_url else ''}the load generator and anything else running; load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; {dt.datetime.now():%Y-%m-%d %H:%M}")
    print(note)
    (RESULTS / "submit.json").write_text(json.dumps({"note": note, "steps": [asdict(s) for s in steps]}, indent=2))
    plot(steps, RESULTS / "submit.png", note, args.server)
    print(f"\nplot: {RESULTS / 'submit.png'}")


if __name__ == "__main__":
    main()
