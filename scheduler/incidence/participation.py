"""The participation estimates: registered profiles, active participants, new profiles and the response rate
per week and geography, disclosure-controlled with the pattern of the incidence table."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, case, func, literal, select
from sqlalchemy.dialects.postgresql import array as postgresql_array

from reporting.models import MISSING_NONE, MISSING_PRIVACY, Municipality, Profile

from .counting import WeekCounts
from .disclosure import DisclosurePolicy, TableDisclosure, protect
from .strata import ALL, NATION, Strata


# Up to this many week boundaries the registrations are one count per boundary; beyond, one interval per
# profile (two weeks or fewer are the scheduler's hourly run).
FEW_BOUNDS = 4


def participation_rows(connection: Connection, counts: Mapping[dt.date, WeekCounts],
                       disclosures: Mapping[dt.date, TableDisclosure], strata: Strata, policy: DisclosurePolicy,
                       timezone: str) -> dict[tuple[dt.date, str, str], dict[str, Any]]:
    """Registered, active, new profiles and response rate per week and geography, disclosure-controlled.

    ``active`` is the w0 active count of (geography, all ages, all sexes) with exactly the suppression pattern
    of the incidence table (so the two tables cannot be played against each other); registered profiles get
    primary and complementary suppression over the nation = sum of regions margin. New profiles follow from
    registered(W) - registered(W-1) whenever nobody withdrew, so they are published exactly when both
    registered counts are, and withheld with them otherwise (a withheld count of new profiles would be read
    back from the two registered ones; issue 11).
    """
    weeks = sorted(counts)
    previous = weeks[0] - dt.timedelta(weeks=1)
    registrations = count_registrations(connection, [previous, *weeks], timezone)
    geographies = strata.geographies()
    nation, regions = geographies[0], geographies[1:]
    rows: dict[tuple[dt.date, str, str], dict[str, Any]] = {}

    def registered_withheld(week: dt.date) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
        registered = {geo: registrations[week].get(geo, (0, 0))[0] for geo in geographies}
        small = {geo for geo, n in registered.items() if policy.is_small(n)}
        withheld, _ = protect(registered, small, small, [(nation, tuple(regions))], room=policy.suppress_below)
        return registered, withheld

    _before, withheld_before = registered_withheld(previous)
    for week in weeks:
        registered, withheld = registered_withheld(week)
        new = {geo: registrations[week].get(geo, (0, 0))[1] for geo in geographies}
        for geo in geographies:
            cell = (*geo, ALL, ALL)
            active = None if cell in disclosures[week].active_withheld else counts[week].active[cell]
            reg = None if geo in withheld else registered[geo]
            fresh = None if geo in withheld or geo in withheld_before else new[geo]
            rate = active / reg if active is not None and reg else None
            reason = MISSING_PRIVACY if None in (active, reg, fresh) else MISSING_NONE
            rows[(week, *geo)] = {"registered": reg, "active": active, "new_profiles": fresh,
                                  "response_rate": rate, "missing_reason": reason}
        withheld_before = withheld
    return rows


def count_registrations(connection: Connection, weeks: Sequence[dt.date], timezone: str
                        ) -> dict[dt.date, dict[tuple[str, str], tuple[int, int]]]:
    """Per week and geography: profiles created by the end of the week (and not deleted: deleted profiles are
    gone), and profiles created during the week. Weeks run Monday 00:00 to Monday 00:00 local time.

    One pass over the index ``(municipality_code, created_at)`` gives, per municipality, the profiles created
    before each boundary of the weeks (a week's registered profiles are those before its end; its new ones
    those before its end but not before its start): for a few boundaries one count per boundary, for many
    the interval between boundaries each profile falls in (PostgreSQL finds it by binary search,
    ``width_bucket``; elsewhere a CASE) and running sums. Municipalities are summed per region here."""
    zone = ZoneInfo(timezone)

    def local_midnight(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.timezone.utc)

    bounds = sorted({local_midnight(w + dt.timedelta(weeks=k)) for w in weeks for k in (0, 1)})
    profiles = Profile.__table__
    created, municipality = profiles.c.created_at, profiles.c.municipality_code
    before: dict[int, list[int]] = {}  # municipality -> profiles created before bounds[i]
    if len(bounds) <= FEW_BOUNDS:
        query = select(municipality, *[func.count().filter(created < literal(b, created.type)) for b in bounds])
        for code, *counts in connection.execute(query.group_by(municipality)):
            before[code] = list(counts)
    else:
        if connection.dialect.name == "postgresql":
            interval = func.width_bucket(created, postgresql_array([literal(b, created.type) for b in bounds]))
        else:
            interval = case(*[(created < literal(b, created.type), i) for i, b in enumerate(bounds)],
                            else_=len(bounds))
        per_interval: dict[int, list[int]] = {}  # interval i: bounds[i-1] <= created < bounds[i]
        for code, index, n in connection.execute(select(municipality, interval, func.count())
                                                 .group_by(municipality, interval)):
            per_interval.setdefault(code, [0] * (len(bounds) + 1))[int(index)] += n
        before = {code: list(itertools.accumulate(counts))[:len(bounds)] for code, counts in per_interval.items()}
    region_of = dict(connection.execute(select(Municipality.code, Municipality.region_code)).all())
    result: dict[dt.date, dict[tuple[str, str], tuple[int, int]]] = {}
    for week in weeks:
        begin = bounds.index(local_midnight(week))
        end = bounds.index(local_midnight(week + dt.timedelta(weeks=1)))
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for code, counts in before.items():
            region = ("region", str(region_of[code]))
            registered, new = totals.get(region, (0, 0))
            totals[region] = (registered + counts[end], new + counts[end] - counts[begin])
        totals[("nation", NATION)] = (sum(r for r, _ in totals.values()), sum(n for _, n in totals.values()))
        result[week] = totals
    return result
