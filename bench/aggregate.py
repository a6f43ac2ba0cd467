"""Benchmark: the weekly aggregation at national scale on PostgreSQL, against a hand-written GROUP BY.

    python bench/aggregate.py --url postgresql+psycopg://postgres@127.0.0.1/bench_aggregate \\
        --participants 1000000 --weeks 40            # generate (COPY, progress bars), then measure
    python bench/aggregate.py --url ... --measure-only   # measure an already generated database

Generation runs in a child process (bench/population.py: numpy + COPY), so the peak memory reported is the
aggregation's own (ru_maxrss of the measuring process). The database is rebuilt from scratch (schema 'public'
dropped and migrated) unless --measure-only: point it at a database made for the benchmark (it is created
when missing).

Reported: the time to aggregate the newest week (w0, every definition; and all methods), to re-aggregate the
whole season (w0; and all methods), the process's peak memory, and in the same run two hand-written baselines
over the same rows (the newest week, and the season): the issue's ``SELECT week, region_code, count(*),
sum(CASE WHEN <covid.ecdc> ...) GROUP BY week, region_code``, and the floor of any query that fills our table,
``SELECT week, region_code, <age band>, sex, count(*) GROUP BY`` those four (the cells we publish, without a
single definition).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

from reporting.db import make_engine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def generate(url: str, participants: int, weeks: int, first_week: dt.date, seed: int) -> None:
    from bench.population import load
    from reporting.migrate import upgrade

    target = make_url(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}):
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(url)
    started = time.perf_counter()
    reports = load(engine, participants, weeks, first_week, seed)
    print(f"generated {participants:,} participants, {reports:,} reports in {time.perf_counter() - started:.0f} s",
          flush=True)


def timed(label: str, work) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"  {label:<58} {seconds:8.2f} s  {result if result is not None else ''}", flush=True)
    return seconds


def measure(url: str, all_methods: bool) -> None:
    from wsgi import create_app

    app = create_app({"COVIDMETER_DATABASE_URL": url, "COVIDMETER_SECRET_KEY": "bench" * 10})
    from reporting.extensions import db
    from reporting.models import IncidenceEstimate, ParticipationEstimate, SeasonMaximum
    from reporting.weeks import weeks_between
    from scheduler.incidence import caseflags
    from scheduler.incidence import aggregate_weeks, report_weeks
    from scheduler.incidence.definitions import load_definitions
    from scheduler.incidence.methods import METHODS

    with app.app_context():
        with db.engine.begin() as connection:  # a clean slate of estimates: every figure is written once
            for model in (IncidenceEstimate, ParticipationEstimate, SeasonMaximum):
                connection.execute(model.__table__.delete())
            first, last = report_weeks(connection)
            rows = connection.scalar(text("SELECT count(*) FROM weekly_reports"))
            flags = caseflags.week_flags_rule(connection)
        definitions = load_definitions(db.session)
        db.session.close()
        weeks = weeks_between(first, last)
        print(f"{rows:,} reports, {len(weeks)} weeks {first}..{last}, {len(definitions)} definitions, "
              f"week flags {'built for ' + str(flags) if flags else 'absent (general statement)'}")
        hand = ("SELECT week, region_code, count(*) AS active, "
                "sum(CASE WHEN cough OR fever OR shortness_of_breath THEN 1 ELSE 0 END) AS cases "
                "FROM weekly_reports {where} GROUP BY week, region_code")

        with db.engine.connect() as connection:
            bands = connection.execute(text(
                "SELECT label, min_age, max_age FROM age_bands WHERE scheme = :s ORDER BY position"),
                {"s": app.config["COVIDMETER_AGE_BAND_SCHEME"]}).all()
        band = "CASE " + " ".join(f"WHEN age_years BETWEEN {lo} AND {hi} THEN '{label}'" for label, lo, hi in bands) \
            + " END"
        cells = (f"SELECT week, region_code, {band} AS age_band, sex, count(*) AS active FROM weekly_reports {{where}} "
                 f"GROUP BY week, region_code, {band}, sex")

        def hand_written(where: str, query: str = hand, jit: str = "on", **params):  # type: ignore[no-untyped-def]
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SET work_mem = '64MB'")  # as the aggregation's transaction has
                connection.exec_driver_sql(f"SET jit = {jit}")
                return f"{len(connection.execute(text(query.format(where=where)), params).all())} rows"

        def best(label: str, where: str, query: str = hand, runs: int = 3, **params) -> float:  # type: ignore[no-untyped-def]
            """The baseline at its fastest: PostgreSQL's default (JIT on) and JIT off, best of ``runs`` each."""
            return min(timed(f"{label}, jit {jit}", lambda: hand_written(where, query, jit, **params))
                       for jit in ("on", "off") for _ in range(runs))

        def ours(ws, methods, issue):  # type: ignore[no-untyped-def]
            results = aggregate_weeks(ws, definitions, methods, issue)
            return f"{sum(r.written.inserted + r.written.updated for r in results):,} estimates written"

        print("warming the caches (the machine's memory manager drops idle page cache; not counted)")
        timed("a scan of the reports", lambda: hand_written(""))
        timed("aggregate the season once (w0), then forget its estimates",
              lambda: ours(weeks, ["w0"], dt.date(2029, 1, 1)))
        with db.engine.begin() as connection:
            for model in (IncidenceEstimate, ParticipationEstimate, SeasonMaximum):
                connection.execute(model.__table__.delete())
        print("newest week")
        hand_week = best("hand-written GROUP BY week, region (1 definition)", "WHERE week = :w", w=last)
        cells_week = best("hand-written GROUP BY week, region, age band, sex", "WHERE week = :w", cells, w=last)
        week_w0 = timed("aggregate_weeks, w0, every definition", lambda: ours([last], ["w0"], dt.date(2030, 1, 1)))
        week_w0_again = min(timed("  again (nothing changed, nothing written)",
                                  lambda: ours([last], ["w0"], dt.date(2030, 1, 1))) for _ in range(3))
        week_all = timed(f"aggregate_weeks, all {len(METHODS)} methods (what the scheduled job computes)",
                         lambda: ours([last], list(METHODS), dt.date(2030, 1, 2)))
        week_by_method = {m: timed(f"  {m} alone, again (nothing changed)",
                                   lambda: ours([last], [m], dt.date(2030, 1, 2))) for m in METHODS}
        print("whole season")
        hand_season = best("hand-written GROUP BY week, region (1 definition)", "", runs=2)
        cells_season = best("hand-written GROUP BY week, region, age band, sex", "", cells, runs=2)
        season_w0 = timed("aggregate_weeks, w0, every definition", lambda: ours(weeks, ["w0"], dt.date(2030, 1, 3)))
        season_w0_again = timed("  again (nothing changed, nothing written)",
                                lambda: ours(weeks, ["w0"], dt.date(2030, 1, 3)))
        season_all = None
        if all_methods:
            season_all = timed(f"aggregate_weeks, all {len(METHODS)} methods",
                               lambda: ours(weeks, list(METHODS), dt.date(2030, 1, 4)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("summary (the hand-written baselines at their best of JIT on and off)")
        print(f"  newest week w0: {week_w0:.2f} s (again {week_w0_again:.2f} s; goal < 10 s), "
              f"{week_w0 / hand_week:.2f} x the hand-written query ({hand_week:.3f} s; goal <= 1.5 x; "
              f"{week_w0_again / hand_week:.2f} x again), {week_w0 / cells_week:.2f} x the same-cells GROUP BY "
              f"({cells_week:.3f} s)")
        print(f"  newest week, all {len(METHODS)} methods: {week_all:.2f} s (goal < 10 s; per method, unchanged: "
              + ", ".join(f"{m} {t:.2f} s" for m, t in week_by_method.items()) + ")")
        print(f"  season w0: {season_w0:.2f} s (goal < 300 s; again {season_w0_again:.2f} s), "
              f"{season_w0 / hand_season:.2f} x the hand-written query ({hand_season:.2f} s; goal <= 1.5 x), "
              f"{season_w0 / cells_season:.2f} x the same-cells GROUP BY ({cells_season:.2f} s)")
        if season_all is not None:
            print(f"  season, all {len(METHODS)} methods: {season_all:.1f} s (goal < 300 s)")
        print(f"  peak memory of the measuring process: {peak:.0f} MB (goal < 300 MB)")
        figures = {"reports": rows, "weeks": len(weeks), "hand_week": hand_week, "cells_week": cells_week,
                   "week_w0": week_w0, "week_w0_again": week_w0_again, "week_all": week_all,
                   "week_by_method": week_by_method,
                   "hand_season": hand_season, "cells_season": cells_season, "season_w0": season_w0,
                   "season_w0_again": season_w0_again, "season_all": season_all, "peak_mb": peak,
                   "when": dt.datetime.now().isoformat(timespec="minutes")}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "aggregate.json").write_text(json.dumps(figures, indent=2))
        plot(figures, RESULTS / "aggregate.png")
        print(f"figures: {RESULTS / 'aggregate.json'}, plot: {RESULTS / 'aggregate.png'}")


def plot(figures: dict, path: Path) -> None:
    """Bars of seconds: each measure beside its hand-written baseline and the 1.5 x line."""
    try:
        import matplotlib
    except ImportError:
        print("(matplotlib not installed: pip install -e '.[bench]' for the plot)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [4, 4, 3]})
    for ax, scope in zip(axes, ("week", "season")):
        hand = figures[f"hand_{scope}"]
        labels = ["hand-written\nGROUP BY", "same cells\n(no definition)", "w0, all\ndefinitions",
                  "w0 again\n(unchanged)"]
        values = [hand, figures[f"cells_{scope}"], figures[f"{scope}_w0"], figures[f"{scope}_w0_again"]]
        ax.bar(labels, values, color=["#999999", "#bbbbbb", "#3366aa", "#6699cc"])
        ax.axhline(1.5 * hand, color="#cc3333", linestyle=":", linewidth=1, label="1.5 x hand-written")
        ax.set_title("newest week" if scope == "week" else f"whole season ({figures['weeks']} weeks)")
        ax.set_ylabel("seconds")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
    # The scheduled job computes every method: its two measures against their goals (log scale).
    ax = axes[2]
    labels, values, goals = ["newest week"], [figures["week_all"]], [10]
    if figures.get("season_all") is not None:
        labels.append("whole season")
        values.append(figures["season_all"])
        goals.append(300)
    ax.bar(labels, values, color="#3366aa")
    for i, goal in enumerate(goals):
        ax.hlines(goal, i - 0.4, i + 0.4, color="#cc3333", linestyle=":", linewidth=1,
                  label="goal" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_title("all methods (the scheduled job)")
    ax.set_ylabel("seconds (log)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)
    fig.suptitle(f"Aggregation of {figures['reports']:,} reports on PostgreSQL ({figures['when']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="a PostgreSQL database for the benchmark")
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=40)
    parser.add_argument("--first-week", type=dt.date.fromisoformat, default=dt.date(2025, 9, 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--no-all-methods-season", action="store_true",
                        help="skip re-aggregating the season with every method")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        parser.error("the benchmark runs on PostgreSQL (COPY)")
    if not args.measure_only:
        if args.generate_only:
            generate(args.url, args.participants, args.weeks, args.first_week, args.seed)
            return
        subprocess.run([sys.executable, __file__, "--url", args.url, "--participants", str(args.participants),
                        "--weeks", str(args.weeks), "--first-week", args.first_week.isoformat(),
                        "--seed", str(args.seed), "--generate-only"], check=True)
    measure(args.url, not args.no_all_methods_season)


if __name__ == "__main__":
    main()
