"""Benchmark: weekly-report submissions per second and their latency through gunicorn on PostgreSQL,
against a bare endpoint that inserts one row, measured in the same run.

    python bench/submit.py                      # the default ramp: 200, 400, 800, 1000, 1200 requests/s, 10 s each
    python bench/submit.py --rates 100 300 --seconds 5 --workers 3 --threads 8

What it does:
- creates a fresh PostgreSQL database (default covidmeter_bench_submit; dropped at the end unless --keep),
  builds the schema with the migrations, and writes accounts, profiles and bearer sessions directly (a
  session per account, stored hashed as the API stores them), one profile per request to be sent, so
  every request stores a new weekly report;
- starts gunicorn (``-k gthread``) for the real app ('wsgi:create_app()', production settings, rate limits
  on) and then, with the same settings, for bench/bare_app.py (one INSERT via psycopg);
- drives each with an OPEN-LOOP load generator (asyncio + aiohttp): request i of a step is scheduled at
  t0 + i/rate and sent then whatever happened to the earlier ones, and its latency is measured from that
  scheduled time, so queueing in the client, the server or the database shows as latency instead of
  silently lowering the rate (a closed loop would hide it);
- POSTs /api/v1/me/profiles/<id>/reports with a fresh submission id and a realistic mix of answers (85 %
  "no symptoms", 15 % ill with the follow-up questions), checks every answer is 201, and counts anything
  else (or a timeout) as an error;
- prints a table (offered rate, achieved rate, p50, p99, errors, and the app's figures as ratios of the
  bare endpoint's) and saves a plot of latency against offered rate to bench/results/submit.png (and the
  figures to bench/results/submit.json).

The load generator runs on the same machine as gunicorn and PostgreSQL and competes with them for CPU;
say so when quoting the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
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


def start_gunicorn(app: str, port: int, env: dict[str, str], workers: int, threads: int, chdir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
               "-b", f"127.0.0.1:{port}", "--backlog", "4096", "--keep-alive", "30", "--log-level", "warning",
               "--chdir", str(chdir), app]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn for {app} exited with {process.returncode}")
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"gunicorn for {app} did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def open_loop(url_for: callable, body_for: callable, headers_for: callable, rate: int, seconds: float,
                    session: "aiohttp.ClientSession", start_index: int, target: str) -> Step:  # noqa: F821
    """Send rate*seconds requests at fixed intervals; latency counts from each request's scheduled time."""
    import aiohttp

    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        index = start_index + i
        try:
            async with session.post(url_for(index), data=body_for(index), headers=headers_for(index)) as response:
                await response.read()
                if response.status != 201:
                    errors += 1
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            errors += 1
            return
        latencies.append(loop.time() - scheduled)

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = loop.time() - t0
    ordered = sorted(latencies) or [float("nan")]
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return Step(target, rate, seconds, total, len(latencies), errors, len(latencies) / elapsed if elapsed else 0,
                round(pick(0.50), 1), round(pick(0.99), 1), round(ordered[-1] * 1000, 1))


async def drained(session: "aiohttp.ClientSession", probe: str, limit: float = 90.0) -> None:  # noqa: F821
    """Wait until the server answers a cheap request quickly again: an overloaded step (whose requests the
    client gave up on) must not leave a queue behind that the next step is blamed for."""
    loop = asyncio.get_running_loop()
    deadline, quick = loop.time() + limit, 0
    while loop.time() < deadline and quick < 3:
        started = loop.time()
        try:
            async with session.get(probe) as response:
                await response.read()
            quick = quick + 1 if loop.time() - started < 0.05 else 0
        except Exception:  # noqa: BLE001  (a refused or timed-out probe means "not yet")
            quick = 0
        await asyncio.sleep(0.2)


async def drive(base_url: str, kind: str, pairs: list[tuple[str, str]], rates: list[int], seconds: float,
                offset: int) -> tuple[list[Step], int]:
    import aiohttp

    rng = random.Random(7)
    ill = {i for i in range(len(pairs)) if rng.random() < 0.15}
    if kind == "app":
        url_for = lambda i: f"{base_url}/api/v1/me/profiles/{pairs[i][1]}/reports"  # noqa: E731
        headers_for = lambda i: {"Authorization": f"Bearer {pairs[i][0]}",  # noqa: E731
                                 "Content-Type": "application/json", "Accept-Language": "da"}
    else:
        url_for = lambda i: f"{base_url}/"  # noqa: E731
        headers_for = lambda i: {"Content-Type": "application/json"}  # noqa: E731
    body_for = lambda i: json.dumps({"submission_id": f"bench-{i:08d}-{secrets.token_hex(6)}",  # noqa: E731
                                     "answers": ILL_ANSWERS if i in ill else WELL_ANSWERS})
    connector = aiohttp.TCPConnector(limit=4000, force_close=False)
    timeout = aiohttp.ClientTimeout(total=15)
    steps = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = await open_loop(url_for, body_for, headers_for, 100, 2, session, offset, kind)  # warm-up, discarded
        offset += warm.sent
        for rate in rates:
            await drained(session, base_url + ("/healthz" if kind == "app" else "/"))
            step = await open_loop(url_for, body_for, headers_for, rate, seconds, session, offset, kind)
            offset += step.sent
            steps.append(step)
            print(f"  {kind:4} {rate:5}/s offered: {step.achieved:7.1f}/s done, p50 {step.p50_ms:7.1f} ms, "
                  f"p99 {step.p99_ms:8.1f} ms, errors {step.errors}", flush=True)
    return steps, offset


def plot(steps: list[Step], path: Path, note: str) -> None:
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
    ax.set_title("Weekly-report submissions through gunicorn on PostgreSQL")
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, note, fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="any database URL on the server; the benchmark database is made beside it")
    parser.add_argument("--database", default="covidmeter_bench_submit")
    parser.add_argument("--rates", type=int, nargs="+", default=[200, 400, 800, 1000, 1200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--only", choices=("app", "bare"), default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    load_before = os.getloadavg()
    needed = int(sum(args.rates) * args.seconds) + 400
    print(f"database {args.database}: preparing {needed:,} accounts, profiles and bearer sessions", flush=True)
    dsn = create_database(args.pg, args.database)
    steps: list[Step] = []
    try:
        pairs = prepare(dsn, needed)
        env = {"COVIDMETER_ENV": "production", "COVIDMETER_DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
               "COVIDMETER_SECRET_KEY": secrets.token_urlsafe(48), "COVIDMETER_BASE_URL": "http://127.0.0.1",
               "BENCH_DATABASE_URL": dsn, "PYTHONPATH": str(ROOT)}
        offset = 0
        for kind, app, chdir in (("app", "wsgi:create_app()", ROOT), ("bare", "bare_app:app", ROOT / "bench")):
            if args.only and kind != args.only:
                continue
            port = free_port()
            print(f"gunicorn -w {args.workers} -k gthread --threads {args.threads} '{app}'", flush=True)
            process = start_gunicorn(app, port, env, args.workers, args.threads, chdir)
            try:
                kind_steps, offset = asyncio.run(drive(f"http://127.0.0.1:{port}", kind, pairs, args.rates,
                                                       args.seconds, offset))
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_after = os.getloadavg()
    note = (f"{os.cpu_count()} CPUs shared by gunicorn (-w {args.workers} gthread x{args.threads}), PostgreSQL and the "
            f"load generator; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
            f"{dt.datetime.now():%Y-%m-%d %H:%M}")
    print(note)
    (RESULTS / "submit.json").write_text(json.dumps({"note": note, "steps": [asdict(s) for s in steps]}, indent=2))
    plot(steps, RESULTS / "submit.png", note)
    print(f"\nplot: {RESULTS / 'submit.png'}")


if __name__ == "__main__":
    main()
