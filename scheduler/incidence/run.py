"""The aggregation run: for each method and run of weeks, in one transaction, count (scheduler.incidence.counting),
publish (.publishing), censor for display (.censoring), write the estimates and, with method w0, the
participation estimates with revisions (.estimates, .participation), and bump the aggregates version so every
web process's figure cache forgets what it held. Weeks whose inputs retention purged are skipped
(scheduler.incidence.horizon)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Engine, func, select

from reporting.aggregates_version import bump_aggregates_version
from reporting.extensions import db
from reporting.models import WeeklyReport
from reporting.weeks import today_in

from .cells import CellKey, PublishedValues
from .censoring import apply_display_censoring, record_season_maxima, run_maxima, season_maxima
from .counting import count_weeks
from .definitions import CompiledDefinition
from .disclosure import DisclosurePolicy, TableDisclosure
from .estimates import WriteSummary, write_estimates, write_participation
from .horizon import first_recomputable_week, purged_before
from .methods import Method, check, get_method
from .participation import participation_rows
from .publishing import WeekResult, final_tables, publish_week
from .strata import ALL, NATION, Strata, load_strata, load_weights


WEEKS_PER_STATEMENT = 53


def aggregate_weeks(weeks: Iterable[dt.date], definitions: Sequence[CompiledDefinition],
                    methods: Sequence[str | Method] = ("w0",), issue: dt.date | None = None, *,
                    engine: Engine | None = None, config: Mapping[str, Any] | None = None,
                    weeks_per_statement: int = WEEKS_PER_STATEMENT) -> list[WeekResult]:
    """Count, disclose and publish the weeks for each method: one statement and one transaction per method and
    run of up to ``weeks_per_statement`` weeks. With method w0 the participation estimates are written too.

    ``engine`` and ``config`` default to the current Flask app's. ``issue`` defaults to today in
    COVIDMETER_TIMEZONE; re-running with unchanged inputs writes nothing (scheduler.incidence.estimates). Weeks whose
    inputs the retention job has purged are skipped, so their published figures stay as they are.
    """
    if engine is None or config is None:
        engine = engine or db.engine
        config = config or current_app.config
    weeks = sorted(set(weeks))
    for week in weeks:
        if week.weekday() != 0:
            raise ValueError(f"{week} is not a Monday")
    resolved = [get_method(m) if isinstance(m, str) else check(m) for m in methods]
    issue = issue or today_in(config["COVIDMETER_TIMEZONE"])
    policy = DisclosurePolicy.from_config(config)
    scheme = config["COVIDMETER_AGE_BAND_SCHEME"]
    results: list[WeekResult] = []
    with engine.connect() as connection:
        strata = load_strata(connection, scheme)
        weights = load_weights(connection, config.get("COVIDMETER_STANDARD_POPULATION", "dk-2024"), scheme,
                               strata.bands)
        horizon = purged_before(connection)
    for method in resolved:
        todo = [w for w in weeks if horizon is None or w >= first_recomputable_week(horizon, method)]
        for week in weeks:
            if week not in todo:
                results.append(WeekResult(week, method.key, 0, WriteSummary(), 0.0,
                                          skipped=f"reports before {horizon} were purged by retention"))
        for start in range(0, len(todo), weeks_per_statement):
            chunk = todo[start:start + weeks_per_statement]
            results.extend(_aggregate_chunk(engine, chunk, definitions, method, issue, policy, strata, weights,
                                            config))
    results.sort(key=lambda r: (r.week, [m.key for m in resolved].index(r.method)))
    return results


def _aggregate_chunk(engine: Engine, weeks: list[dt.date], definitions: Sequence[CompiledDefinition],
                     method: Method, issue: dt.date, policy: DisclosurePolicy, strata: Strata,
                     weights: Sequence[float], config: Mapping[str, Any]) -> list[WeekResult]:
    started = time.perf_counter()
    with engine.begin() as connection:
        counts = count_weeks(connection, weeks, definitions, method, strata)
        values: dict[CellKey, PublishedValues] = {}
        disclosures: dict[dt.date, TableDisclosure] = {}
        frozen = final_tables(connection, weeks, definitions, method)
        for week in weeks:
            week_values, disclosures[week] = publish_week(counts[week], definitions, method, strata, policy, weights,
                                                          frozen.get(week))
            values.update(week_values)
        stored, run = season_maxima(connection, weeks, method.key), run_maxima(values)
        values = apply_display_censoring(values, stored, run)
        record_season_maxima(connection, method.key, run, stored)
        written = write_estimates(connection, values, issue)
        participation = WriteSummary()
        if method.key == "w0":
            participation = write_participation(
                connection, participation_rows(connection, counts, disclosures, strata, policy,
                                               config["COVIDMETER_TIMEZONE"]), issue)
        if written.inserted or written.updated or participation.inserted or participation.updated:
            bump_aggregates_version(connection)  # every web process's figure cache forgets what it held
    seconds = time.perf_counter() - started
    results = []
    for week in weeks:
        nation = ("nation", NATION, ALL, ALL)
        share = len(weeks)
        results.append(WeekResult(
            week, method.key, len(counts[week].active) * len(definitions),
            WriteSummary(*(round(n / share) for n in (written.inserted, written.updated, written.unchanged))),
            seconds / share, counts[week].active[nation],
            {d.key: counts[week].cases[i][nation] for i, d in enumerate(definitions)},
            participation=participation))
    if results:  # the rounding above must not lose rows: the last week carries the remainder
        for name in ("inserted", "updated", "unchanged"):
            total = getattr(written, name)
            setattr(results[-1].written, name, total - sum(getattr(r.written, name) for r in results[:-1]))
    return results


def aggregate_week(week_monday: dt.date, definitions: Sequence[CompiledDefinition], method: str | Method = "w0",
                   issue: dt.date | None = None, *, engine: Engine | None = None,
                   config: Mapping[str, Any] | None = None) -> WeekResult:
    """Count, disclose and publish one week for one method, in one transaction (see ``aggregate_weeks``)."""
    if week_monday.weekday() != 0:
        raise ValueError(f"{week_monday} is not a Monday")
    [result] = aggregate_weeks([week_monday], definitions, [method], issue, engine=engine, config=config)
    return result


def report_weeks(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """The first and last week with reports, or None when there are none."""
    first, last = connection.execute(select(func.min(WeeklyReport.week), func.max(WeeklyReport.week))).one()
    return (first, last) if first is not None else None
