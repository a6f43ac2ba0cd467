"""How the person's region is doing, from published aggregates only: the newest issue of each week's
region estimate for the whole population (age band 'all', sex 'all') where nothing was withheld
(missing_reason 0). Nothing is computed here from reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import MISSING_NONE, CaseDefinition, IncidenceEstimate, Municipality, Region

HEADLINE_DEFINITION = "covid.ecdc"


def region_of(municipality_code: int) -> int | None:
    """The region of a municipality (None for a code that names none)."""
    municipality = db.session.get(Municipality, municipality_code)
    return municipality.region_code if municipality else None


@dataclass(frozen=True)
class RegionWeek:
    week: dt.date
    incidence: float  # share of active participants, 0..1
    lower: float | None
    upper: float | None
    active: int | None


@dataclass(frozen=True)
class RegionTrend:
    region_code: int
    region_name: str
    definition_key: str
    definition_label_da: str
    definition_label_en: str
    weeks: tuple[RegionWeek, ...]  # oldest first

    @property
    def latest(self) -> RegionWeek | None:
        return self.weeks[-1] if self.weeks else None

    @property
    def change(self) -> str | None:
        """'up', 'down' or 'flat' from the week before to the latest, when both intervals allow saying it."""
        if len(self.weeks) < 2:
            return None
        before, now = self.weeks[-2], self.weeks[-1]
        if before.upper is not None and now.lower is not None and now.lower > before.upper:
            return "up"
        if before.lower is not None and now.upper is not None and now.upper < before.lower:
            return "down"
        return "flat"


def region_trend(region_code: int, weeks: int = 8, definition_key: str = HEADLINE_DEFINITION) -> RegionTrend | None:
    region = db.session.get(Region, region_code)
    definition = db.session.scalar(select(CaseDefinition).where(CaseDefinition.key == definition_key)
                                   .order_by(CaseDefinition.version.desc()).limit(1))
    if region is None or definition is None:
        db.session.rollback()
        return None
    e = IncidenceEstimate
    cell = (e.geo_type == "region", e.geo_code == str(region_code), e.age_band == "all", e.sex == "all",
            e.definition_key == definition.key, e.definition_version == definition.version,
            e.method == definition.default_method)
    newest = (select(e.week, func.max(e.issue).label("issue")).where(*cell).group_by(e.week)
              .order_by(e.week.desc()).limit(weeks).subquery())
    rows = db.session.execute(
        select(e.week, e.incidence, e.lower_95, e.upper_95, e.active, e.missing_reason)
        .join(newest, (newest.c.week == e.week) & (newest.c.issue == e.issue))
        .where(*cell).order_by(e.week)).all()
    trend = RegionTrend(region.code, region.name, definition.key, definition.label_da, definition.label_en,
                        tuple(RegionWeek(r.week, r.incidence, r.lower_95, r.upper_95, r.active) for r in rows
                              if r.missing_reason == MISSING_NONE and r.incidence is not None))
    db.session.rollback()
    return trend
