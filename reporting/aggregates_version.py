"""The version of the published aggregates, so that caches in every web process know when to forget.

The scheduler calls ``bump_aggregates_version(connection)`` after each aggregation run (in the same
transaction as the estimates or right after). Readers (the dashboard's figure cache) combine it with the
highest ids of the estimate tables in ``aggregates_version(connection)``, so a run that forgets to bump is
still noticed when it inserts rows. Nothing here imports the dashboard.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Connection, delete, func, insert, select

from .models import IncidenceEstimate, InstanceFact, ParticipationEstimate, utcnow

FACT_KEY = "aggregates_version"


def bump_aggregates_version(connection: Connection, now: dt.datetime | None = None) -> str:
    """Record a new aggregates version (a random value) and return it; the caller's transaction commits."""
    value = uuid.uuid4().hex
    table = InstanceFact.__table__
    connection.execute(delete(table).where(table.c.key == FACT_KEY))
    connection.execute(insert(table).values(key=FACT_KEY, value=value, recorded_at=now or utcnow()))
    return value


def aggregates_version(connection: Connection) -> str:
    """A string that changes whenever the published aggregates change (one cheap query)."""
    facts = InstanceFact.__table__
    row = connection.execute(select(
        select(facts.c.value).where(facts.c.key == FACT_KEY).scalar_subquery(),
        select(func.max(IncidenceEstimate.id)).scalar_subquery(),
        select(func.max(ParticipationEstimate.id)).scalar_subquery(),
    )).one()
    return ":".join("" if part is None else str(part) for part in row)
