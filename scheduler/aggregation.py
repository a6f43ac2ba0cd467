"""Weekly aggregation, run by the database: active participants and cases by geography, age band, sex and
case definition.

For week W and a ``Method`` (scheduler.methods; ifnBase docs/incidence-computation.md) one statement computes

- ``active``: one row per participant active in W with their stratum as reported that week (region, age band
  from ``age_years``, sex);
- ``onsets``: per participant, one ``MAX(CASE WHEN <definition> THEN 1 ELSE 0 END)`` column per case
  definition over the reports of W .. W + lookahead whose onset week is W and that start a new episode (so a
  person counts at most once per week and definition);
- the finest cells (region x age band x sex), and the margins (all ages, both sexes, the nation) as a
  ``UNION ALL`` of the eight grouping levels over those cells, which works on SQLite and PostgreSQL alike (no
  ``ROLLUP``).

Cases are counted in the stratum of the participant's active report, so cases <= active in every cell.
Python then adds the empty cells of the full grid, applies disclosure control and writes the estimates with
revisions (scheduler.estimates).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (Connection, Engine, Float, Integer, String, and_, case, func, literal, null, select,
                        union_all)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from reporting.models import SEXES, AgeBand, Region, WeeklyReport

from .definitions import CompiledDefinition
from .disclosure import DisclosurePolicy, disclose_week
from .estimates import CellKey, WriteSummary, write_estimates
from .methods import Method, get_method

NATION = "DK"
ALL = "all"


class days_between(FunctionElement[float]):
    """(a - b) in days, fractional, for two timestamps: portable between SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"(julianday({compiler.process(a, **kw)}) - julianday({compiler.process(b, **kw)}))"


@compiles(days_between)
def _days_between_default(element: days_between, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"(EXTRACT(EPOCH FROM ({compiler.process(a, **kw)} - {compiler.process(b, **kw)})) / 86400.0)"


@dataclass(frozen=True)
class Band:
    label: str
    min_age: int
    max_age: int


@dataclass(frozen=True)
class Strata:
    """The full grid of one week: geographies x age bands x sexes (margins included)."""

    regions: tuple[int, ...]
    bands: tuple[Band, ...]
    sexes: tuple[str, ...] = SEXES

    def geographies(self) -> list[tuple[str, str]]:
        return [("nation", NATION)] + [("region", str(code)) for code in self.regions]

    def band_labels(self) -> list[str]:
        return [band.label for band in self.bands] + [ALL]

    def sex_labels(self) -> list[str]:
        return list(self.sexes) + [ALL]


def load_strata(connection: Connection, scheme: str) -> Strata:
    regions = tuple(connection.scalars(select(Region.code).order_by(Region.code)))
    bands = tuple(Band(label, lo, hi) for label, lo, hi in connection.execute(
        select(AgeBand.label, AgeBand.min_age, AgeBand.max_age).where(AgeBand.scheme == scheme)
        .order_by(AgeBand.position)))
    if not bands:
        raise ValueError(f"no age bands for scheme {scheme!r} (COVIDMETER_AGE_BAND_SCHEME)")
    return Strata(regions, bands)


@dataclass(frozen=True)
class CellCount:
    geo_type: str
    geo_code: str
    age_band: str
    sex: str
    definition_key: str
    definition_version: int
    active: int
    cases: int


def count_statement(week: dt.date, definitions: Sequence[CompiledDefinition], method: Method,
                    bands: Sequence[Band]) -> Any:
    """The one SELECT that counts active participants and cases of week W for every cell and definition."""
    if not definitions:
        raise ValueError("no case definitions to aggregate")
    reports = WeeklyReport.__table__

    r = reports.alias("r")
    age_band = case(*[(r.c.age_years.between(b.min_age, b.max_age), literal(b.label, String)) for b in bands],
                    else_=null())
    active = (select(r.c.profile_id, r.c.region_code, age_band.label("age_band"), r.c.sex)
              .where(r.c.week == week).cte("active"))

    o = reports.alias("o")
    previous = reports.alias("previous")
    conditions = [o.c.week >= week, o.c.week <= week + dt.timedelta(weeks=method.onset_lookahead_weeks),
                  o.c.onset_week == week, o.c.profile_id.in_(select(active.c.profile_id))]
    if method.same_episode_days is not None:
        previous_submitted = (select(previous.c.submitted_at)
                              .where(previous.c.profile_id == o.c.profile_id, previous.c.week < o.c.week)
                              .order_by(previous.c.week.desc()).limit(1).scalar_subquery())
        same_episode = and_(o.c.same_illness == "yes", previous_submitted.is_not(None),
                            days_between(o.c.submitted_at, previous_submitted) <= method.same_episode_days)
        conditions.append(~same_episode)
    case_columns = [f"case_{i}" for i in range(len(definitions))]
    onsets = (select(o.c.profile_id,
                     *[func.max(case((d.sql(o), 1), else_=0)).label(name)
                       for d, name in zip(definitions, case_columns)])
              .where(*conditions).group_by(o.c.profile_id).cte("onsets"))

    person = (select(active.c.region_code, active.c.age_band, active.c.sex,
                     *[func.coalesce(onsets.c[name], 0).label(name) for name in case_columns])
              .select_from(active.outerjoin(onsets, onsets.c.profile_id == active.c.profile_id))
              .cte("person"))
    finest = (select(person.c.region_code, person.c.age_band, person.c.sex, func.count().label("active"),
                     *[func.sum(person.c[name]).label(name) for name in case_columns])
              .group_by(person.c.region_code, person.c.age_band, person.c.sex).cte("finest"))

    levels = []
    for by_region in (True, False):
        for by_band in (True, False):
            for by_sex in (True, False):
                region = finest.c.region_code if by_region else null().cast(Integer)
                band = finest.c.age_band if by_band else literal(ALL, String)
                sex = finest.c.sex if by_sex else literal(ALL, String)
                group = [c for c, on in ((finest.c.region_code, by_region), (finest.c.age_band, by_band),
                                         (finest.c.sex, by_sex)) if on]
                level = select(literal("region" if by_region else "nation", String).label("geo_type"),
                               region.label("region_code"), band.label("age_band"), sex.label("sex"),
                               func.coalesce(func.sum(finest.c.active), 0).label("active"),
                               *[func.coalesce(func.sum(finest.c[name]), 0).label(name) for name in case_columns])
                levels.append(level.group_by(*group) if group else level)
    return union_all(*levels)


def count_week(connection: Connection, week: dt.date, definitions: Sequence[CompiledDefinition],
               method: Method, strata: Strata) -> list[CellCount]:
    """Counts for every cell of the full grid (cells without participants have active = cases = 0)."""
    counts: dict[tuple[str, str, str, str], tuple[int, list[int]]] = {}
    for row in connection.execute(count_statement(week, definitions, method, strata.bands)).mappings():
        if row["age_band"] is None:  # an age outside every band: counted in the 'all' margins only
            continue
        geo_code = NATION if row["geo_type"] == "nation" else str(row["region_code"])
        counts[(row["geo_type"], geo_code, row["age_band"], row["sex"])] = (
            int(row["active"]), [int(row[f"case_{i}"]) for i in range(len(definitions))])
    cells = []
    for geo_type, geo_code in strata.geographies():
        for band in strata.band_labels():
            for sex in strata.sex_labels():
                active, cases = counts.get((geo_type, geo_code, band, sex), (0, [0] * len(definitions)))
                for definition, n_cases in zip(definitions, cases):
                    cells.append(CellCount(geo_type, geo_code, band, sex, definition.key, definition.version,
                                           active, n_cases))
    return cells


def today_in(timezone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(timezone)).date()


@dataclass
class WeekResult:
    week: dt.date
    method: str
    cells: int
    written: WriteSummary
    seconds: float
    national_active: int = 0
    national_cases: dict[str, int] = field(default_factory=dict)


def aggregate_week(week_monday: dt.date, definitions: Sequence[CompiledDefinition], method: str | Method = "w0",
                   issue: dt.date | None = None, *, engine: Engine | None = None,
                   config: Mapping[str, Any] | None = None) -> WeekResult:
    """Count, disclose and publish one week for one method, in one transaction.

    ``engine`` and ``config`` default to the current Flask app's. ``issue`` defaults to today in
    COVIDMETER_TIMEZONE; re-running with unchanged inputs writes nothing (scheduler.estimates).
    """
    if engine is None or config is None:
        from flask import current_app

        from reporting.extensions import db

        engine = engine or db.engine
        config = config or current_app.config
    if week_monday.weekday() != 0:
        raise ValueError(f"{week_monday} is not a Monday")
    method = get_method(method) if isinstance(method, str) else method
    issue = issue or today_in(config["COVIDMETER_TIMEZONE"])
    policy = DisclosurePolicy.from_config(config)
    started = time.perf_counter()
    with engine.begin() as connection:
        strata = load_strata(connection, config["COVIDMETER_AGE_BAND_SCHEME"])
        cells = count_week(connection, week_monday, definitions, method, strata)
        published = disclose_week(
            ((CellKey(week_monday, c.geo_type, c.geo_code, c.age_band, c.sex, c.definition_key,
                      c.definition_version, method.key), c.active, c.cases) for c in cells), policy)
        written = write_estimates(connection, published, issue)
    national = [c for c in cells if c.geo_type == "nation" and c.age_band == ALL and c.sex == ALL]
    return WeekResult(week_monday, method.key, len(cells), written, time.perf_counter() - started,
                      national[0].active if national else 0,
                      {c.definition_key: c.cases for c in national})


def weeks_between(first: dt.date, last: dt.date) -> list[dt.date]:
    weeks, week = [], first
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(weeks=1)
    return weeks


def report_weeks(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """The first and last week with reports, or None when there are none."""
    first, last = connection.execute(select(func.min(WeeklyReport.week), func.max(WeeklyReport.week))).one()
    return (first, last) if first is not None else None


def aggregate_weeks(weeks: Iterable[dt.date], definitions: Sequence[CompiledDefinition],
                    methods: Sequence[str] = ("w0",), issue: dt.date | None = None, **kwargs: Any
                    ) -> list[WeekResult]:
    """``aggregate_week`` for several weeks and methods, each week in its own transaction."""
    return [aggregate_week(week, definitions, method, issue, **kwargs) for week in weeks for method in methods]
