"""Influenzanet's display censoring (ifnBase): each published cell against the largest active count and
incidence of its season, from earlier issues (the table ``season_maxima``) and this run together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reporting.models import SeasonMaximum
from reporting.weeks import season_of

from .cells import CellKey, PublishedValues


# Influenzanet display censoring (ifnBase): hide a week whose active count is below this share of the season's
# maximum, and flag an upper bound above this multiple of the season's maximum incidence.
DISPLAY_ACTIVE_SHARE = 0.35
UPPER_BOUND_FACTOR = 2.0


# The key of a season maximum, as season_maxima returns it: (season, *cell, definition key, version).
_MAXIMUM_KEY = ("season", "geo_type", "geo_code", "age_band", "sex", "definition_key", "definition_version")


def season_maxima(connection: Connection, weeks: Sequence[dt.date], method: str) -> dict[tuple, tuple[int, float]]:
    """The largest published active count and incidence so far per (season, cell, definition) of ``method``:
    the seasons' rows of ``season_maxima`` (kept by ``record_season_maxima``)."""
    table = SeasonMaximum.__table__
    seasons = sorted({season_of(w) for w in weeks})
    rows = connection.execute(select(*[table.c[name] for name in _MAXIMUM_KEY], table.c.max_active,
                                     table.c.max_incidence)
                              .where(table.c.method == method, table.c.season.in_(seasons))).all()
    return {tuple(row[:-2]): (row[-2], row[-1]) for row in rows}


def run_maxima(values: Mapping[CellKey, PublishedValues]) -> dict[tuple, tuple[int, float]]:
    """The largest active count and incidence of this run per (season, cell, definition) (withheld: 0)."""
    run: dict[tuple, tuple[int, float]] = {}
    for key, v in values.items():
        group = (season_of(key.week), *key[1:7])
        old = run.get(group, (0, 0.0))
        run[group] = (max(old[0], v.active or 0), max(old[1], v.incidence or 0.0))
    return run


def record_season_maxima(connection: Connection, method: str, run: Mapping[tuple, tuple[int, float]],
                         stored: Mapping[tuple, tuple[int, float]]) -> int:
    """Raise the stored season maxima to this run's where it went higher (in the estimates' transaction;
    a concurrent run can only raise them further). Returns the number of rows written."""
    rows = [{**dict(zip(_MAXIMUM_KEY, group)), "method": method, "max_active": active, "max_incidence": incidence}
            for group, (active, incidence) in run.items()
            if active > stored.get(group, (0, 0.0))[0] or incidence > stored.get(group, (0, 0.0))[1]]
    if not rows:
        return 0
    table = SeasonMaximum.__table__
    postgresql = connection.dialect.name == "postgresql"
    insert = postgresql_insert(table) if postgresql else sqlite_insert(table)
    larger = func.greatest if postgresql else func.max  # SQLite's max() of two values is its GREATEST
    statement = insert.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={"max_active": larger(table.c.max_active, insert.excluded.max_active),
              "max_incidence": larger(table.c.max_incidence, insert.excluded.max_incidence)})
    connection.execute(statement, rows)
    return len(rows)


def apply_display_censoring(values: dict[CellKey, PublishedValues], maxima: Mapping[tuple, tuple[int, float]],
                            run: Mapping[tuple, tuple[int, float]] | None = None) -> dict[CellKey, PublishedValues]:
    """Influenzanet's display flags against the season maxima (earlier issues and this run together; ``run``:
    this run's maxima, from ``run_maxima``)."""
    run = run_maxima(values) if run is None else run
    flagged = {}
    for key, v in values.items():
        group = (season_of(key.week), *key[1:7])
        max_active = max(run[group][0], maxima.get(group, (0, 0.0))[0])
        max_incidence = max(run[group][1], maxima.get(group, (0, 0.0))[1])
        display_censored = v.active is None or v.active < DISPLAY_ACTIVE_SHARE * max_active
        upper_censored = v.upper_95 is not None and max_incidence > 0 and v.upper_95 > UPPER_BOUND_FACTOR * max_incidence
        if display_censored != v.display_censored or upper_censored != v.upper_censored:
            v = replace(v, display_censored=display_censored, upper_censored=upper_censored)
        flagged[key] = v
    return flagged
