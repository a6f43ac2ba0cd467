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

from flask import current_app
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from reporting.extensions import db
from reporting.models import SEXES, AgeBand, CaseDefinition, IncidenceEstimate, ParticipationEstimate, Region

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


@dataclass(frozen=True)
class Estimate:
    """One published incidence cell, as the scheduler wrote it (proportions 0..1)."""

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
    return [Estimate(**{name: getattr(row, name) for name in _ESTIMATE_FIELDS})
            for row in db.session.scalars(_latest_select(where))]


def available_weeks(definition: DefinitionInfo, method: str | None = None) -> list[dt.date]:
    """Mondays of the weeks with any published estimate for a definition (oldest first)."""
    e = IncidenceEstimate
    return list(db.session.scalars(
        select(e.week).distinct()
        .where(e.definition_key == definition.key, e.definition_version == definition.version,
               e.method == (method or definition.default_method))
        .order_by(e.week)))


def available_methods(definition: DefinitionInfo) -> list[str]:
    """Methods with published estimates for a definition, the default first (even without estimates)."""
    e = IncidenceEstimate
    found = db.session.scalars(select(e.method).distinct().where(
        e.definition_key == definition.key, e.definition_version == definition.version).order_by(e.method))
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
    p = ParticipationEstimate
    newer = aliased(ParticipationEstimate)
    conditions = []
    newer_conditions = [newer.week == p.week, newer.geo_type == p.geo_type, newer.geo_code == p.geo_code,
                        newer.issue > p.issue]
    if geo_codes is not None:
        conditions.append(p.geo_code.in_(list(geo_codes)))
    if week_from is not None:
        conditions.append(p.week >= week_from)
    if week_to is not None:
        conditions.append(p.week <= week_to)
    if as_of is not None:
        conditions.append(p.issue <= as_of)
        newer_conditions.append(newer.issue <= as_of)
    statement = (select(p).where(*conditions, ~select(newer.id).where(*newer_conditions).exists())
                 .order_by(p.week, p.geo_type, p.geo_code))
    return [Participation(**{name: getattr(row, name) for name in _PARTICIPATION_FIELDS})
            for row in db.session.scalars(statement)]


def _latest_select(where: EstimateFilter) -> Select[tuple[IncidenceEstimate]]:
    e = IncidenceEstimate
    conditions = [e.definition_key == where.definition.key,
                  e.definition_version == where.definition.version,
                  e.method == (where.method or where.definition.default_method)]
    if where.geo_type is not None:
        conditions.append(e.geo_type == where.geo_type)
    if where.geo_codes is not None:
        conditions.append(e.geo_code.in_(list(where.geo_codes)))
    if where.week_from is not None:
        conditions.append(e.week >= where.week_from)
    if where.week_to is not None:
        conditions.append(e.week <= where.week_to)
    if where.age_band is not None:
        conditions.append(e.age_band == where.age_band)
    if where.sex is not None:
        conditions.append(e.sex == where.sex)

    newer = aliased(IncidenceEstimate)
    newer_conditions = [
        newer.week == e.week, newer.geo_type == e.geo_type, newer.geo_code == e.geo_code,
        newer.age_band == e.age_band, newer.sex == e.sex, newer.definition_key == e.definition_key,
        newer.definition_version == e.definition_version, newer.method == e.method, newer.issue > e.issue]
    if where.as_of is not None:
        conditions.append(e.issue <= where.as_of)
        newer_conditions.append(newer.issue <= where.as_of)
    # No newer issue of the same key exists (works alike on SQLite and PostgreSQL, uses the lookup index).
    no_newer_issue = ~select(newer.id).where(*newer_conditions).exists()
    if where.public_only:
        # The newest issue decides: a cell whose newest issue is not public is not served from an older one.
        conditions.append(e.public.is_(True))
    return (select(e).where(*conditions, no_newer_issue)
            .order_by(e.week, e.geo_type, e.geo_code, e.age_band, e.sex))
