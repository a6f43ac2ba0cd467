"""Benchmark: how fast the dashboard answers a view change, on the demo data, cold and warm cache.

    python bench/dashboard.py                       # builds the demo (20,000 participants, 30 weeks) in a temp SQLite
    python bench/dashboard.py --participants 5000 --weeks 20 --url sqlite:////tmp/x.sqlite --reuse

A "view change" is what the browser sends when one control changes: the state callback (``sync_state``,
which also writes the URL) and then every figure callback whose inputs changed, POSTed to
``/dashboard/_dash-update-component`` through the WSGI test client, signed in as staff (password + TOTP)
— the same path as the browser's renderer, minus the network. The figure callbacks are timed one after
the other and summed (the browser sends them concurrently, so this is an upper bound).

- cold: the figure cache is emptied before each view change (as after the aggregation job publishes).
- warm: the same view changes again, answered from the cache (the aggregates version did not change).

The target (docs/performance.md) is a warm p95 under 150 ms on the demo data. Figures go to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MS = 150.0
FIGURES = {"timeseries.figure", "map.figure", "breakdown.figure", "participation.figure"}


def build(url: str, participants: int, weeks: int) -> None:
    from reporting import migrate
    from scheduler.demo import build_demo
    from wsgi import create_app

    migrate.upgrade(url)
    app = create_app({"COVIDMETER_DATABASE_URL": url, "COVIDMETER_SECRET_KEY": "bench" * 10})
    with app.app_context():
        started = time.perf_counter()
        build_demo(app, participants=participants, weeks=weeks, echo=lambda _: None, show_progress=False)
        print(f"demo built: {participants:,} participants, {weeks} weeks in {time.perf_counter() - started:.1f} s")


class Dashboard:
    """A signed-in staff client that speaks Dash's callback protocol."""

    def __init__(self, url: str) -> None:
        import pyotp

        from reporting.extensions import db
        from reporting.models import utcnow
        from reporting.staff.service import create_staff_user
        from wsgi import create_app

        self.app = create_app({"COVIDMETER_DATABASE_URL": url, "COVIDMETER_SECRET_KEY": "bench" * 10,
                               "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        email = f"bench-{time.time_ns()}@example.org"
        secret = pyotp.random_base32()
        with self.app.app_context():
            user, _ = create_staff_user(email, "epidemiologist", "bench password 123")
            user.totp_secret, user.totp_confirmed_at = secret, utcnow()
            db.session.commit()
        self.client = self.app.test_client()
        self.client.post("/staff/login", data={"email": email, "password": "bench password 123"})
        assert self.client.post("/staff/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
        self.dependencies = self.client.get("/dashboard/_dash-dependencies").get_json()
        self.cache = self.app.extensions["covidmeter.figure_cache"]

    def call(self, output: str, values: dict[str, Any], changed: list[str]) -> tuple[dict[str, Any], float]:
        dependency = next(d for d in self.dependencies if output in d["output"].strip(".").split("..."))
        outputs = [dict(zip(("id", "property"), p.split("."))) for p in dependency["output"].strip(".").split("...")]

        def spec(item: dict[str, str]) -> dict[str, Any]:
            return {**item, "value": values.get(f"{item['id']}.{item['property']}")}

        body = {"output": dependency["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": [spec(i) for i in dependency["inputs"]], "state": [spec(s) for s in dependency["state"]],
                "changedPropIds": changed}
        started = time.perf_counter()
        response = self.client.post("/dashboard/_dash-update-component", json=body)
        elapsed = time.perf_counter() - started
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
        return (response.get_json() or {}).get("response", {}), elapsed

    def figures_for(self, changed_control: str) -> list[str]:
        wanted = []
        for dependency in self.dependencies:
            output = dependency["output"]
            if output in FIGURES and any(i["id"] == changed_control for i in dependency["inputs"]):
                wanted.append(output)
        return wanted

    def view_change(self, state: dict[str, Any], control: str, value: Any) -> tuple[dict[str, Any], float]:
        """Change one control: sync_state, then the figures whose inputs changed. Returns the new state."""
        values = {f"{k}.value": v for k, v in state.items()}
        values[f"{control}.value"] = value
        values["url.search"] = ""
        result, total = self.call("url.search", values, [f"{control}.value"])
        new_state = {k: result.get(k, {}).get("value", state.get(k)) for k in state}
        figure_values = {f"{k}.value": v for k, v in new_state.items()}
        changed = [k for k in new_state if new_state[k] != state.get(k)] or [control]
        for output in dict.fromkeys(o for c in changed for o in self.figures_for(c)):
            _, elapsed = self.call(output, figure_values, [f"{c}.value" for c in changed])
            total += elapsed
        return new_state, total


def scenario(dashboard: Dashboard) -> list[tuple[str, Any]]:
    """A realistic session: definitions, methods, weeks, regions, geography, crude/standardised."""
    from dashboard import queries

    with dashboard.app.test_request_context():
        definitions = [d.key for d in queries.case_definitions()]
        weeks = [w.isoformat() for w in queries.available_weeks(queries.case_definition("covid.ecdc"))]
    steps: list[tuple[str, Any]] = []
    for key in definitions:
        steps.append(("definition", key))
    steps.append(("definition", "covid.ecdc"))
    for week in weeks[-8:]:
        steps.append(("week", week))
    steps += [("regions", ["1084"]), ("regions", ["1084", "1081"]), ("regions", ["1084", "1081", "1085"]),
              ("measure", "standardised"), ("measure", "crude"), ("area", "1084"), ("area", "1082"),
              ("area", "DK"), ("week_from", weeks[max(0, len(weeks) - 12)]), ("week_from", weeks[0])]
    return steps


def run(dashboard: Dashboard, warm: bool, rounds: int) -> list[float]:
    timings: list[float] = []
    for _ in range(rounds):
        state: dict[str, Any] = {"definition": None, "method": None, "measure": None, "week_from": None,
                                 "week_to": None, "week": None, "regions": [], "area": None}
        result, _ = dashboard.call("url.search", {"url.search": "", **{f"{k}.value": v for k, v in state.items()}}, [])
        state = {k: result[k]["value"] for k in state}
        for control, value in scenario(dashboard):
            if not warm:
                dashboard.cache.clear()
            state, elapsed = dashboard.view_change(state, control, value)
            timings.append(elapsed * 1000)
    return timings


def describe(label: str, timings: list[float]) -> tuple[float, float]:
    p50 = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[18]
    print(f"  {label:<6} n={len(timings):4d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(timings):7.1f} ms")
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temp directory)")
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="measure an existing demo database")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench-dashboard.sqlite'}"
    if not args.reuse:
        build(url, args.participants, args.weeks)
    dashboard = Dashboard(url)
    run(dashboard, warm=False, rounds=1)  # imports, first queries: not measured
    print(f"view change latency ({url.split(':')[0]}, {dt.date.today()}):")
    _, cold_p95 = describe("cold", run(dashboard, warm=False, rounds=args.rounds))
    run(dashboard, warm=True, rounds=1)  # fill the cache
    warm_p50, warm_p95 = describe("warm", run(dashboard, warm=True, rounds=args.rounds))
    print(f"  cold/warm p95 ratio {cold_p95 / warm_p95:.1f}x; warm p95 is {warm_p95 / TARGET_MS:.2f} of the "
          f"{TARGET_MS:.0f} ms target ({'met' if warm_p95 < TARGET_MS else 'NOT met'})")
    print(f"  cache: {dashboard.cache.hits} hits, {dashboard.cache.misses} misses")


if __name__ == "__main__":
    main()
