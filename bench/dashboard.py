"""Benchmark: how fast the dashboard answers a view change on the default demo, cold and warm, on SQLite
and PostgreSQL, against the bare queries measured in the same run.

    pip install -e '.[bench]'
    python bench/dashboard.py                  # SQLite demo in bench/results/ (built the first time, reused after)
    python bench/dashboard.py --url sqlite:///bench/results/dashboard-demo.sqlite \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/dash_bench       # both engines in one run
    python bench/dashboard.py --url ... --rebuild     # build the demo again (also --participants, --weeks, --seed)
    python bench/dashboard.py --url postgresql+psycopg://... --analyze   # ANALYZE the estimate tables first

The demo is the README's default (20,000 participants, 30 weeks, 4 methods x 7 definitions, ~80,000
estimates). A database that already holds a built demo of that size and seed is reused; otherwise the demo is
built into it by a child process (``scheduler.demo.build_demo``, with its progress bars; 3-10 minutes). The
demo refuses a database holding anything else; a PostgreSQL database is created when missing.

A **view change** is what the browser sends when one control changes: the state callback (``sync_state``,
which also writes the URL), then every figure callback whose inputs changed, POSTed to
``/dashboard/_dash-update-component`` through the WSGI test client by a signed-in epidemiologist (password and
TOTP, the CSRF header as the renderer sends it). The callbacks are timed one after the other and summed (the
browser sends the figure callbacks concurrently, so this is an upper bound); ``critical`` is the state
callback plus the slowest figure. Kinds of view change: definition, method, week range (from/to), week (map
and breakdown), regions in the trend, geography (breakdown and participation), crude/standardised.

- **cold**: before each view change the aggregates version is bumped in the database exactly as the
  aggregation job does after a run (``bump_aggregates_version``), so nothing the view needs is cached: the
  first time that view is asked for after an aggregation run.
- **warm**: the same view changes again with the version unchanged (answered from the figure cache).
- **bare**: the same view change's database work alone, in the same run: for every figure it re-drew, its
  rows (newest issue per key) by a hand-written SQL statement, plus the methods (a loose index scan) and weeks
  of the definition, through a plain SQLAlchemy Core connection; no Flask, session, Dash, figure or JSON.

PostgreSQL plans depend on the planner's statistics, which exist only once the tables have been analysed
(autovacuum, or ``--analyze``); the report says whether they have been. The target (issue 5) is a cold p95
under 150 ms. Results are printed per kind of view change, written to
``bench/results/dashboard.json`` and drawn in ``bench/results/dashboard.png`` (matplotlib, in the bench
extra); the load average is recorded beside them because the project machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

TARGET_MS = 150.0
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = f"sqlite:///{RESULTS / 'dashboard-demo.sqlite'}"
FIGURES = ("timeseries.figure", "map.figure", "breakdown.figure", "participation.figure")
CONTROLS = ("definition", "method", "measure", "week_from", "week_to", "week", "regions", "area")
KINDS = ("definition", "method", "week range", "week", "regions", "area", "measure")
CONFIG = {"COVIDMETER_SECRET_KEY": "bench-dashboard-" * 3}


# --- the demo ------------------------------------------------------------------------------------------

def demo_state(url: str) -> dict[str, Any] | None:
    """The 'demo' fact of a database (None when it holds no built demo or does not exist)."""
    from sqlalchemy import inspect

    from reporting.db import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return None
    if parsed.get_backend_name() == "postgresql" and not _pg_database_exists(url):
        return None
    engine = make_engine(url)
    try:
        if "instance_facts" not in inspect(engine).get_table_names():
            return None
        with engine.connect() as connection:
            value = connection.scalar(text("SELECT value FROM instance_facts WHERE key = 'demo'"))
        fact = json.loads(value) if value else None
        return fact if fact and fact.get("status") == "built" else None
    finally:
        engine.dispose()


def _pg_database_exists(url: str, create: bool = False) -> bool:
    from reporting.db import make_engine

    target = make_url(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            exists = bool(connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                            {"d": target.database}))
            if not exists and create:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
                exists = True
        return exists
    finally:
        admin.dispose()


def ensure_demo(url: str, participants: int, weeks: int, seed: int, rebuild: bool) -> None:
    fact = demo_state(url)
    wanted = {"participants": participants, "weeks": weeks, "seed": seed}
    if fact and not rebuild and all(fact.get(k) == v for k, v in wanted.items()):
        print(f"reusing the demo in {_safe(url)} (built {fact.get('built_at')}: {participants:,} participants, "
              f"{weeks} weeks, seed {seed})", flush=True)
        return
    print(f"building the demo in {_safe(url)}: {participants:,} participants, {weeks} weeks, seed {seed} "
          "(a child process; several minutes)", flush=True)
    if make_url(url).get_backend_name() == "postgresql":
        _pg_database_exists(url, create=True)
    else:
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--build-only", "--url", url, "--participants", str(participants),
                    "--weeks", str(weeks), "--seed", str(seed)], check=True)
    print(f"demo built in {time.perf_counter() - started:.0f} s", flush=True)


def build_only(url: str, participants: int, weeks: int, seed: int) -> None:
    """In the child process: ``covidmeter demo --no-serve`` into ``url``, the truth file under results."""
    from scheduler.demo import DemoRefused, build_demo
    from wsgi import create_app

    app = create_app({**CONFIG, "COVIDMETER_DATABASE_URL": url})
    RESULTS.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        try:
            result = build_demo(app, participants=participants, weeks=weeks, seed=seed,
                                truth_path=RESULTS / f"dashboard-demo-truth-{make_url(url).get_backend_name()}.json")
        except DemoRefused as refused:
            sys.exit(f"bench/dashboard.py: {refused}")
    print(f"  {result.estimates:,} estimates, {result.reports:,} reports", flush=True)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- the dashboard as the browser's renderer talks to it -----------------------------------------------

class Dashboard:
    """A signed-in epidemiologist's test client that speaks Dash's callback protocol."""

    def __init__(self, url: str) -> None:
        import pyotp

        from reporting.extensions import db
        from reporting.models import utcnow
        from reporting.staff.service import create_staff_user
        from wsgi import create_app

        self.app = create_app({**CONFIG, "COVIDMETER_DATABASE_URL": url})
        self.db = db
        email = f"bench-{time.time_ns()}@example.org"
        secret = pyotp.random_base32()
        with self.app.app_context():
            user, _ = create_staff_user(email, "epidemiologist", "bench password 123")
            user.totp_secret, user.totp_confirmed_at = secret, utcnow()
            db.session.commit()
        self.client = self.app.test_client()
        self.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        self.app.config["WTF_CSRF_ENABLED"] = False  # the two sign-in forms only; callbacks below send the header
        self.client.post("/staff/login", data={"email": email, "password": "bench password 123"})
        signed_in = self.client.post("/staff/login/code", data={"code": pyotp.TOTP(secret).now()})
        assert signed_in.status_code == 302, signed_in.status_code
        self.app.config["WTF_CSRF_ENABLED"] = True
        assert self.client.get("/dashboard/").status_code == 200  # sets the _csrf_token cookie
        self.csrf = self.client.get_cookie("_csrf_token", path="/dashboard/").value
        self.dependencies = self.client.get("/dashboard/_dash-dependencies").get_json()
        self.timings: dict[str, list[float]] = defaultdict(list)  # per callback, cold runs only

    def bump_version(self) -> None:
        """What the aggregation job does after a run: every cached answer is stale from now on."""
        from reporting.aggregates_version import bump_aggregates_version

        with self.app.app_context(), self.db.engine.begin() as connection:
            bump_aggregates_version(connection)

    def call(self, output: str, values: dict[str, Any], changed: list[str]) -> tuple[dict[str, Any], float]:
        dependency = next(d for d in self.dependencies if output in d["output"].strip(".").split("..."))
        outputs = [dict(zip(("id", "property"), p.split("."))) for p in dependency["output"].strip(".").split("...")]

        def spec(item: dict[str, str]) -> dict[str, Any]:
            return {**item, "value": values.get(f"{item['id']}.{item['property']}")}

        body = {"output": dependency["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": [spec(i) for i in dependency["inputs"]], "state": [spec(s) for s in dependency["state"]],
                "changedPropIds": changed}
        started = time.perf_counter()
        response = self.client.post("/dashboard/_dash-update-component", json=body,
                                    headers={"X-CSRFToken": self.csrf})
        elapsed = time.perf_counter() - started
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
        return (response.get_json() or {}).get("response", {}), elapsed

    def first_view(self, search: str = "") -> dict[str, Any]:
        values = {"url.search": search, **{f"{k}.value": None for k in CONTROLS}, "regions.value": []}
        result, _ = self.call("url.search", values, [])
        return {k: result[k]["value"] for k in CONTROLS}

    def figures_for(self, control: str) -> list[str]:
        return [d["output"] for d in self.dependencies
                if d["output"] in FIGURES and any(i["id"] == control for i in d["inputs"])]

    def view_change(self, state: dict[str, Any], control: str, value: Any,
                    record: bool = False) -> tuple[dict[str, Any], float, float, list[str]]:
        """Change one control: the state callback, then the figures whose inputs changed.
        Returns the new state, the summed time, the critical path and the figures re-drawn."""
        values = {f"{k}.value": v for k, v in state.items()}
        values[f"{control}.value"] = value
        values["url.search"] = ""
        result, first = self.call("url.search", values, [f"{control}.value"])
        new_state = {k: result.get(k, {}).get("value", state.get(k)) for k in state}
        figure_values = {f"{k}.value": v for k, v in new_state.items()}
        changed = [k for k in new_state if new_state[k] != state.get(k)] or [control]
        drawn = list(dict.fromkeys(o for c in changed for o in self.figures_for(c)))
        figure_times = []
        for output in drawn:
            _, elapsed = self.call(output, figure_values, [f"{c}.value" for c in changed])
            figure_times.append(elapsed)
            if record:
                self.timings[output].append(elapsed * 1000)
        if record:
            self.timings["url.search (state)"].append(first * 1000)
        return new_state, first + sum(figure_times), first + max(figure_times, default=0.0), drawn


# --- the bare queries ----------------------------------------------------------------------------------

ESTIMATE_COLUMNS = ("week, geo_type, geo_code, age_band, sex, active, cases, incidence, lower_95, upper_95, "
                    "standardised_incidence, standardised_lower_95, standardised_upper_95, display_censored, "
                    "upper_censored, missing_reason, issue")
NEWEST_ESTIMATES = f"""
SELECT {ESTIMATE_COLUMNS} FROM (
    SELECT {ESTIMATE_COLUMNS}, row_number() OVER (
        PARTITION BY week, geo_type, geo_code, age_band, sex ORDER BY issue DESC) AS newest_first
    FROM incidence_estimates
    WHERE definition_key = :key AND definition_version = :version AND method = :method {{where}}) AS ranked
WHERE newest_first = 1 ORDER BY week, geo_type, geo_code, age_band, sex"""
NEWEST_PARTICIPATION = """
SELECT week, geo_type, geo_code, registered, active, new_profiles, response_rate, missing_reason, issue FROM (
    SELECT *, row_number() OVER (PARTITION BY week, geo_type, geo_code ORDER BY issue DESC) AS newest_first
    FROM participation_estimates WHERE geo_code = :area {where}) AS ranked
WHERE newest_first = 1 ORDER BY week"""
DEFINITIONS = ("SELECT key, max(version) FROM case_definitions WHERE active GROUP BY key")
METHODS = """
WITH RECURSIVE methods(method) AS (
    SELECT (SELECT min(method) FROM incidence_estimates WHERE definition_key = :key AND definition_version = :version)
    UNION ALL
    SELECT (SELECT min(method) FROM incidence_estimates
            WHERE definition_key = :key AND definition_version = :version AND method > methods.method)
    FROM methods WHERE methods.method IS NOT NULL)
SELECT method FROM methods WHERE method IS NOT NULL"""
WEEKS = ("SELECT DISTINCT week FROM incidence_estimates WHERE definition_key = :key "
         "AND definition_version = :version AND method = :method ORDER BY week")


class Bare:
    """The database work of a view change, by hand, through a plain Core connection."""

    def __init__(self, url: str) -> None:
        from reporting.db import make_engine

        self.engine = make_engine(url)
        with self.engine.connect() as connection:
            self.versions = dict(connection.execute(text(DEFINITIONS)).all())

    def view_change(self, state: dict[str, Any], drawn: list[str]) -> float:
        key, method = state["definition"], state["method"]
        params = {"key": key, "version": self.versions.get(key), "method": method}
        started = time.perf_counter()
        with self.engine.connect() as connection:
            connection.execute(text(METHODS), params).all()
            connection.execute(text(WEEKS), params).all()
            for output in drawn:
                statement, extra = self._statement(output, state)
                connection.execute(text(statement), {**params, **extra}).all()
            connection.rollback()
        return time.perf_counter() - started

    @staticmethod
    def _statement(output: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        def date(name: str) -> dt.date | None:
            return dt.date.fromisoformat(state[name]) if state.get(name) else None

        week = date("week")
        span = {"week_from": date("week_from"), "week_to": date("week_to")}
        if output == "timeseries.figure":
            codes = ["DK", *state["regions"]]
            names = {f"g{i}": c for i, c in enumerate(codes)}
            where = (f"AND age_band = 'all' AND sex = 'all' AND geo_code IN ({', '.join(':' + n for n in names)}) "
                     "AND week >= :week_from AND week <= :week_to")
            return NEWEST_ESTIMATES.format(where=where), {**names, **span}
        if output == "map.figure":
            return (NEWEST_ESTIMATES.format(where="AND geo_type = 'region' AND age_band = 'all' AND sex = 'all' "
                                                  "AND week = :week"), {"week": week})
        if output == "breakdown.figure":
            return NEWEST_ESTIMATES.format(where="AND geo_code = :area AND week = :week"), {
                "area": state["area"], "week": week}
        return (NEWEST_PARTICIPATION.format(where="AND week >= :week_from AND week <= :week_to"),
                {"area": state["area"], **span})


# --- the session of view changes -----------------------------------------------------------------------

def scenario(dashboard: Dashboard, state: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(kind, control, value): every definition and method, week ranges, weeks, regions, geographies, measure."""
    from dashboard import queries

    with dashboard.app.test_request_context():
        definitions = [d.key for d in queries.case_definitions()]
        default = queries.case_definition(state["definition"])
        assert default is not None
        methods = queries.available_methods(default)
        weeks = [w.isoformat() for w in queries.available_weeks(default, state["method"])]
        regions = [g.code for g in queries.geographies() if g.geo_type == queries.REGION]
    steps: list[tuple[str, str, Any]] = []
    for key in [*[d for d in definitions if d != state["definition"]], state["definition"]]:
        steps.append(("definition", "definition", key))
    for method in [*[m for m in methods if m != state["method"]], state["method"]]:
        steps.append(("method", "method", method))
    for index in (-12, -20, 0, -26):
        steps.append(("week range", "week_from", weeks[max(index, -len(weeks))]))
    steps += [("week range", "week_to", weeks[-5]), ("week range", "week_to", weeks[-1])]
    for week in reversed(weeks[-8:]):
        steps.append(("week", "week", week))
    for count in (1, 2, 3, len(regions), 0):
        steps.append(("regions", "regions", regions[:count][::-1]))
    for area in (*regions[::-1], queries.NATION_CODE):
        steps.append(("area", "area", area))
    for measure in ("standardised", "crude", "standardised", "crude"):
        steps.append(("measure", "measure", measure))
    return steps


def measure(url: str, rounds: int) -> dict[str, Any]:
    from tqdm import tqdm

    dashboard = Dashboard(url)
    bare = Bare(url)
    start = dashboard.first_view()
    steps = scenario(dashboard, start)
    runs: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in ("cold", "warm", "bare", "critical")}
    load_before = os.getloadavg()

    def walk(mode: str, label: str, passes: int, record: bool) -> None:
        for _ in tqdm(range(passes), desc=f"  {label}", unit="round", leave=False):
            state = dashboard.first_view()
            for kind, control, value in steps:
                if mode == "cold":
                    dashboard.bump_version()
                state, total, critical, drawn = dashboard.view_change(state, control, value,
                                                                      record=record and mode == "cold")
                if record:
                    runs[mode][kind].append(total * 1000)
                    if mode == "cold":
                        runs["critical"][kind].append(critical * 1000)
                        runs["bare"][kind].append(bare.view_change(state, drawn) * 1000)

    walk("cold", "warm-up (imports, first queries)", 1, record=False)
    walk("cold", "cold", rounds, record=True)
    walk("warm", "filling the cache", 1, record=False)
    walk("warm", "warm", rounds, record=True)
    load_after = os.getloadavg()
    info = {"url": _safe(url), "engine": make_url(url).get_backend_name(), "steps_per_round": len(steps),
            "rounds": rounds, "load_before": load_before, "load_after": load_after,
            "at": dt.datetime.now().isoformat(timespec="seconds"), "statistics": _statistics_note(bare),
            "estimates": _count(bare, "incidence_estimates"),
            "per_callback_cold": {k: _summary(v) for k, v in dashboard.timings.items()}}
    bare.engine.dispose()
    return {**info, "kinds": {mode: {kind: values for kind, values in by_kind.items()}
                              for mode, by_kind in runs.items()}}


def _count(bare: Bare, table: str) -> int:
    with bare.engine.connect() as connection:
        return int(connection.scalar(text(f"SELECT count(*) FROM {table}")))


def _statistics_note(bare: Bare) -> str:
    if bare.engine.dialect.name != "postgresql":
        return ""
    with bare.engine.connect() as connection:
        analysed = connection.scalar(text(
            "SELECT coalesce(greatest(last_analyze, last_autoanalyze)::text, 'never') FROM pg_stat_user_tables "
            "WHERE relname = 'incidence_estimates'"))
        autovacuum = connection.scalar(text("SHOW autovacuum"))
    return f"incidence_estimates analysed: {analysed}; autovacuum {autovacuum}"


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(values), "p50": statistics.median(ordered), "p95": _p95(ordered), "max": ordered[-1]}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def report(result: dict[str, Any]) -> dict[str, Any]:
    kinds = result["kinds"]
    print(f"\n{result['engine']} ({result['url']}), {result['estimates']:,} estimates, {result['rounds']} rounds of "
          f"{result['steps_per_round']} view changes, {result['at']}")
    print(f"load average before {_load(result['load_before'])}, after {_load(result['load_after'])}"
          + (f"; {result['statistics']}" if result["statistics"] else ""))
    header = (f"  {'view change':<11} {'n':>4} | {'warm p50':>8} {'p95':>7} | {'cold p50':>8} {'p95':>7} "
              f"{'crit p95':>8} | {'bare p50':>8} {'p95':>6} | {'cold/bare':>9}")
    print(header + "\n  " + "-" * (len(header) - 2))
    table: dict[str, Any] = {}
    for kind in (*KINDS, "all"):
        def pick(mode: str) -> list[float]:
            return [v for k in KINDS for v in kinds[mode].get(k, [])] if kind == "all" else kinds[mode].get(kind, [])
        warm, cold, critical, bare = (_summary(pick(m)) for m in ("warm", "cold", "critical", "bare"))
        ratio = cold["p95"] / bare["p95"]
        table[kind] = {"warm": warm, "cold": cold, "critical": critical, "bare": bare, "cold_bare_p95": ratio}
        print(f"  {kind:<11} {cold['n']:>4} | {warm['p50']:>8.1f} {warm['p95']:>7.1f} | {cold['p50']:>8.1f} "
              f"{cold['p95']:>7.1f} {critical['p95']:>8.1f} | {bare['p50']:>8.1f} {bare['p95']:>6.1f} | "
              f"{ratio:>8.1f}x")
    cold_p95 = table["all"]["cold"]["p95"]
    print(f"  (ms; a view change = the state callback + the figures it re-draws, summed; crit = state + slowest "
          f"figure)\n  cold p95 {cold_p95:.1f} ms: {'meets' if cold_p95 < TARGET_MS else 'does NOT meet'} the "
          f"{TARGET_MS:.0f} ms target; worst kind {max(KINDS, key=lambda k: table[k]['cold']['p95'])}")
    print("  per callback, cold: " + ", ".join(
        f"{name} p50 {s['p50']:.1f} / p95 {s['p95']:.1f}" for name, s in result["per_callback_cold"].items()))
    return table


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return
    columns = min(2, len(results))
    rows = (len(results) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows + 0.8), squeeze=False)
    labels = [*KINDS, "all"]
    modes = (("bare", "bare queries", "#9e9e9e"), ("warm", "warm (from the cache)", "#0b5394"),
             ("cold", "cold (first time after an aggregation run)", "#b45f06"))
    longest = max(TARGET_MS, *(r["table"][k][m]["p95"] for r in results for k in labels for m, _, _ in modes))
    for axis, result in zip(axes.flat, results):
        table = result["table"]
        height = 0.26
        for offset, (mode, label, colour) in enumerate(modes):
            positions = [i + (offset - 1) * height for i in range(len(labels))]
            axis.barh(positions, [table[k][mode]["p95"] for k in labels], height, label=label, color=colour)
        axis.axvline(TARGET_MS, color="#c00000", linestyle="--", linewidth=1)
        axis.text(TARGET_MS, -0.6, "target ", color="#c00000", ha="right", va="center", fontsize=8)
        axis.set_xlim(0, longest * 1.08)
        axis.set_yticks(range(len(labels)), labels)
        axis.invert_yaxis()
        axis.set_xlabel("p95 of a view change (ms): state callback + figures re-drawn, summed")
        database = make_url(result["url"]).database or ""
        note = ""
        if result["engine"] == "postgresql":
            note = ", no planner statistics" if "analysed: never" in result["statistics"] else ", analysed"
        axis.set_title(f"{result['engine']} {Path(database).name}{note}: {result['estimates']:,} estimates\n"
                       f"load average {_load(result['load_before'])} → {_load(result['load_after'])}", fontsize=9)
        axis.grid(axis="x", alpha=0.3)
    for axis in list(axes.flat)[len(results):]:
        axis.set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(f"Dashboard view changes on the default demo, p95 ({dt.date.today()})", fontsize=11)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", action="append", help=f"database URL, repeatable (default: {DEFAULT_URL})")
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rebuild", action="store_true", help="build the demo even if one is there")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the view changes per mode")
    parser.add_argument("--analyze", action="store_true", help="PostgreSQL: ANALYZE the estimate tables first")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    urls = args.url or [DEFAULT_URL]
    if args.build_only:
        build_only(urls[0], args.participants, args.weeks, args.seed)
        return
    results = []
    for url in urls:
        ensure_demo(url, args.participants, args.weeks, args.seed, args.rebuild)
        if args.analyze and make_url(url).get_backend_name() == "postgresql":
            from reporting.db import make_engine

            engine = make_engine(url)
            with engine.begin() as connection:
                connection.execute(text("ANALYZE incidence_estimates"))
                connection.execute(text("ANALYZE participation_estimates"))
            engine.dispose()
        print(f"measuring {_safe(url)}", flush=True)
        result = measure(url, args.rounds)
        result["table"] = report(result)
        results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults: {RESULTS / 'dashboard.json'}")
    if not args.no_plot:
        plot(results, RESULTS / "dashboard.png")


if __name__ == "__main__":
    main()
