"""Read-only queries over the published aggregates, shared by the Dash app and the export API.

Nothing here computes epidemiology: rows are read as the scheduler wrote them (with its suppression and
reason codes). "Latest issue per key" means: for every (week, geography, age band, sex, definition key,
definition version, method) only the row with the newest ``issue`` is returned; with ``as_of`` the newest
issue on or before that date (the figures as they were published then).

Rows are returned as plain frozen dataclasses (``Estimate``, ``Participation``), not ORM objects, so they
can be cached across requests and processes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, func, select

from reporting.extensions import db
from reporting.models import SEXES, AgeBand, CaseDefinition, IncidenceEstimate, ParticipationEstimate, Region
from scheduler.incidence.estimates import is_final

NATION = "nation"
REGION = "region"
GEO_TYPES = (NATION, REGION)
NATION_CODE = "DK"
NATION_NAME = "Denmark"
ALL = "all"  # the margin in age_band and sex


@dataclass(frozen=True)
class DefinitionInfo:
    key: str
    version: int
    label_en: str
    label_da: str
    description: str
    source: str
    kind: str
    default_method: str

    def label(self, language: str) -> str:
        return self.label_da if language == "da" else self.label_en


@dataclass(frozen=True)
class Geography:
    geo_type: str
    code: str  # 'DK' or the DAGI code as text, '1081'..'1085'
    iso_code: str
    name: str


@dataclass(frozen=True)
class EstimateFilter:
    """Which published cells to read. ``None`` means no restriction on that field."""

    definition: DefinitionInfo
    method: str | None = None  # default: the definition's default method
    geo_type: str | None = None
    geo_codes: Sequence[str] | None = None
    week_from: dt.date | None = None
    week_to: dt.date | None = None
    age_band: str | None = None
    sex: str | None = None
    as_of: dt.date | None = None  # newest issue on or before this date
    public_only: bool = False  # only cells that pass the public (open data) disclosure rules
    # Staff views only: the newest issue, provisional or final. By default a filter reads what is published
    # outside the service, each week's one final issue, so a new export path cannot serve more by mistake.
    include_provisional: bool = False


@dataclass(frozen=True)
class Estimate:
    """One published incidence cell, as the scheduler wrote it (proportions 0..1): the cell's key and values
    (scheduler.incidence.cells, which tests/scheduler/test_cells.py holds these fields to) and its issue."""

    week: dt.date
    geo_type: str
    geo_code: str
    age_band: str
    sex: str
    definition_key: str
    definition_version: int
    method: str
    active: int | None
    cases: int | None
    incidence: float | None
    lower_95: float | None
    upper_95: float | None
    wilson_lower_95: float | None
    wilson_upper_95: float | None
    stderr: float | None
    standardised_incidence: float | None
    standardised_lower_95: float | None
    standardised_upper_95: float | None
    display_censored: bool
    upper_censored: bool
    public: bool
    missing_reason: int
    issue: dt.date


@dataclass(frozen=True)
class Participation:
    week: dt.date
    geo_type: str
    geo_code: str
    registered: int | None
    active: int | None
    new_profiles: int | None
    response_rate: float | None
    missing_reason: int
    issue: dt.date


def is_provisional(e: Estimate) -> bool:
    """Whether a cell's issue came before its week's reports settled: before the Monday two weeks after the
    week's own (scheduler.incidence.estimates.is_final; docs/dashboard-and-export.md, "Provisional weeks").
    The same rule set the stored ``final`` flag when the row was written."""
    return not is_final(e.week, e.issue)


_ESTIMATE_FIELDS = [f.name for f in fields(Estimate)]
_PARTICIPATION_FIELDS = [f.name for f in fields(Participation)]


def case_definitions() -> list[DefinitionInfo]:
    """The active definitions, each in its newest version, in the order they were added."""
    newest = (select(CaseDefinition.key, func.max(CaseDefinition.version).label("version"))
              .where(CaseDefinition.active.is_(True)).group_by(CaseDefinition.key).subquery())
    rows = db.session.scalars(
        select(CaseDefinition)
        .join(newest, and_(CaseDefinition.key == newest.c.key, CaseDefinition.version == newest.c.version))
        .order_by(CaseDefinition.id))
    return [DefinitionInfo(r.key, r.version, r.label_en, r.label_da, r.description, r.source, r.kind,
                           r.default_method) for r in rows]


def case_definition(key: str) -> DefinitionInfo | None:
    return next((d for d in case_definitions() if d.key == key), None)


def geographies() -> list[Geography]:
    """Denmark and its five regions, nation first."""
    regions = db.session.scalars(select(Region).order_by(Region.code))
    return [Geography(NATION, NATION_CODE, "DK", NATION_NAME)] + [
        Geography(REGION, str(r.code), r.iso_code, r.name) for r in regions]


def latest_estimates(where: EstimateFilter) -> list[Estimate]:
    """Published cells matching ``where``, newest issue per key, ordered by week, geography, stratum."""
    params: dict[str, Any] = {"key": where.definition.key, "version": where.definition.version,
                              "method": where.method or where.definition.default_method}
    present = []
    for name in _ESTIMATE_FILTERS:
        value = getattr(where, name)
        if value is not None:
            present.append(name)
            params[name] = list(value) if name == "geo_codes" else value
    statement = _latest_estimates_statement(tuple(present), where.public_only,
                                            not where.include_provisional or where.public_only)
    return [Estimate(*row) for row in db.session.execute(statement, params)]


def available_weeks(definition: DefinitionInfo, method: str | None = None) -> list[dt.date]:
    """Mondays of the weeks with any published estimate for a definition (oldest first)."""
    e = IncidenceEstimate
    return list(db.session.scalars(
        select(e.week).distinct()
        .where(e.definition_key == definition.key, e.definition_version == definition.version,
               e.method == (method or definition.default_method))
        .order_by(e.week)))


def final_weeks(definition: DefinitionInfo, method: str | None = None) -> list[dt.date]:
    """Mondays of the weeks whose final issue is out (oldest first): the weeks a reader outside sees, and the
    newest of them the week the dashboard opens on. Every other available week is provisional."""
    e = IncidenceEstimate
    return list(db.session.scalars(
        select(e.week).distinct()
        .where(e.definition_key == definition.key, e.definition_version == definition.version,
               e.method == (method or definition.default_method), e.final.is_(True))
        .order_by(e.week)))


def available_methods(definition: DefinitionInfo) -> list[str]:
    """Methods with published estimates for a definition, the default first (even without estimates).

    A loose index scan (each next method is the smallest one after the previous, through the lookup index
    on (definition_key, method, ...)): a handful of index probes instead of reading the definition's
    ~11,000 rows for a DISTINCT (0.04 against 2.5 ms on SQLite, 0.2 against 3-5 ms on PostgreSQL). Without
    planner statistics PostgreSQL reads it with bitmap scans instead (5-14 ms), since definition_version is
    not in that index; an index on (definition_key, definition_version, method, week) makes it 0.2 ms there
    too."""
    e = IncidenceEstimate.__table__.c
    same = (e.definition_key == definition.key, e.definition_version == definition.version)
    methods = select(select(func.min(e.method)).where(*same).scalar_subquery().label("method")).cte(
        "methods", recursive=True)
    following = select(func.min(e.method)).where(*same, e.method > methods.c.method).scalar_subquery()
    methods = methods.union_all(select(following).where(methods.c.method.is_not(None)))
    found = db.session.scalars(select(methods.c.method).where(methods.c.method.is_not(None)))
    return list(dict.fromkeys([definition.default_method, *found]))


def age_bands() -> list[str]:
    """The labels of the configured age-band scheme, youngest first."""
    scheme = current_app.config["COVIDMETER_AGE_BAND_SCHEME"]
    return list(db.session.scalars(select(AgeBand.label).where(AgeBand.scheme == scheme)
                                   .order_by(AgeBand.position)))


def sexes() -> list[str]:
    return list(SEXES)


def latest_participation(geo_codes: Sequence[str] | None = None, week_from: dt.date | None = None,
                         week_to: dt.date | None = None, as_of: dt.date | None = None) -> list[Participation]:
    """Participation per week and geography, newest issue per (week, geography), oldest week first."""
    given = {"geo_codes": None if geo_codes is None else list(geo_codes), "week_from": week_from,
             "week_to": week_to, "as_of": as_of}
    params = {name: value for name, value in given.items() if value is not None}
    statement = _latest_participation_statement(tuple(params))
    return [Participation(*row) for row in db.session.execute(statement, params)]


# The optional filters of EstimateFilter (and of latest_participation): the column each restricts and how.
_ESTIMATE_FILTERS = {"geo_type": ("geo_type", "=="), "geo_codes": ("geo_code", "in"), "week_from": ("week", ">="),
                     "week_to": ("week", "<="), "age_band": ("age_band", "=="), "sex": ("sex", "=="),
                     "as_of": ("issue", "<=")}


def _condition(table: Table, name: str) -> ColumnElement[bool]:
    """``column <op> :name`` for one optional filter, as a bound parameter."""
    column, op = _ESTIMATE_FILTERS[name]
    if op == "in":
        return table.c[column].in_(bindparam(name, expanding=True))
    parameter = bindparam(name)
    return {"==": table.c[column] == parameter, ">=": table.c[column] >= parameter,
            "<=": table.c[column] <= parameter}[op]


@lru_cache(maxsize=None)
def _latest_estimates_statement(filters: tuple[str, ...], public_only: bool, final_only: bool = False
                                ) -> Select[Any]:
    """The newest issue per key among the rows that match, as a window over those rows only.

    Every filter is on the key (or, for ``as_of``, on the issue), so filtering first and ranking the
    issues of what is left gives the newest issue per key. The earlier form, ``NOT EXISTS (a newer issue
    of the same key)``, was correct but left the plan to the statistics: on PostgreSQL without them
    (autovacuum off, or right after a big load) it became a nested loop over the whole definition, 90 ms
    for the trend instead of under 1 ms.

    Built once per combination of filters, with bound parameters (building it cost 1 ms a call)."""
    table = IncidenceEstimate.__table__
    e = table.c
    conditions = [e.definition_key == bindparam("key"), e.definition_version == bindparam("version"),
                  e.method == bindparam("method"), *[_condition(table, name) for name in filters]]
    if final_only:  # at most one final issue per key: a reader outside sees every week once
        conditions.append(e.final.is_(True))
    # Definition key, version and method are fixed above: the rest of the key is the partition.
    newest_first = func.row_number().over(partition_by=(e.week, e.geo_type, e.geo_code, e.age_band, e.sex),
                                          order_by=e.issue.desc())
    ranked = select(*[e[name] for name in _ESTIMATE_FIELDS], newest_first.label("newest_first")).where(
        *conditions).subquery("ranked")
    outer = [ranked.c.newest_first == 1]
    if public_only:
        # The newest issue decides: a cell whose newest issue is not public is not served from an older one.
        outer.append(ranked.c.public.is_(True))
    return (select(*[ranked.c[name] for name in _ESTIMATE_FIELDS]).where(*outer)
            .order_by(ranked.c.week, ranked.c.geo_type, ranked.c.geo_code, ranked.c.age_band, ranked.c.sex))


@lru_cache(maxsize=None)
def _latest_participation_statement(filters: tuple[str, ...]) -> Select[Any]:
    """As ``_latest_estimates_statement``, for participation: newest issue per (week, geography)."""
    table = ParticipationEstimate.__table__
    p = table.c
    newest_first = func.row_number().over(partition_by=(p.week, p.geo_type, p.geo_code), order_by=p.issue.desc())
    ranked = select(*[p[name] for name in _PARTICIPATION_FIELDS], newest_first.label("newest_first")).where(
        *[_condition(table, name) for name in filters]).subquery("ranked")
    return (select(*[ranked.c[name] for name in _PARTICIPATION_FIELDS]).where(ranked.c.newest_first == 1)
            .order_by(ranked.c.week, ranked.c.geo_type, ranked.c.geo_code))
