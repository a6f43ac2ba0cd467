"""A published cell, declared once: its key (``CellKey``: week, geography, age band, sex, definition and
version, method) and its values (``PublishedValues``: what may be published, None where withheld, with the
reason why). ``KEY_FIELDS`` and ``VALUE_FIELDS`` follow from them, and the writes with revisions
(scheduler.incidence.estimates) use them. The other declarations of a published cell's fields are held to
these two by tests/scheduler/test_cells.py: the columns of ``reporting.models.IncidenceEstimate`` (the
database's record), ``scheduler.incidence.counting.CellCount`` and ``dashboard.queries.Estimate``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import NamedTuple


class CellKey(NamedTuple):
    week: dt.date
    geo_type: str
    geo_code: str
    age_band: str
    sex: str
    definition_key: str
    definition_version: int
    method: str


@dataclass(frozen=True)
class PublishedValues:
    """What may be published for one cell; None means withheld (the reason says why)."""

    active: int | None
    cases: int | None
    incidence: float | None
    lower_95: float | None
    upper_95: float | None
    missing_reason: int
    wilson_lower_95: float | None = None
    wilson_upper_95: float | None = None
    stderr: float | None = None
    standardised_incidence: float | None = None
    standardised_lower_95: float | None = None
    standardised_upper_95: float | None = None
    display_censored: bool = False
    upper_censored: bool = False
    public: bool = False


KEY_FIELDS: tuple[str, ...] = CellKey._fields
VALUE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PublishedValues))
