"""ISO weeks (Monday start) as the service uses them: a week is identified by its Monday, written
``YYYY-Www`` for people and files."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.ASCII)  # not other scripts' digits


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weeks_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The Mondays from ``first`` to ``last`` (Mondays both), inclusive."""
    weeks, week = [], first
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(weeks=1)
    return weeks


def today_in(timezone: str) -> dt.date:
    """Today's date in the time zone named ``timezone`` (the service's: COVIDMETER_TIMEZONE)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


def parse_iso_week(value: str) -> dt.date:
    """'2026-W05' -> the Monday of that ISO week. Raises ValueError with a readable message."""
    match = _ISO_WEEK.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not an ISO week like 2026-W05")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a week of {year}") from exc


def format_iso_week(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def yearweek(monday: dt.date) -> int:
    """Influenzanet's yw: ISO year * 100 + ISO week."""
    year, week, _ = monday.isocalendar()
    return year * 100 + week


def iso_year(monday: dt.date) -> int:
    return monday.isocalendar()[0]


def age_in_week(birth_year: int, monday: dt.date) -> int:
    """A person's age for a week's report: the ISO year of the week minus the birth year (the age they reach
    that year; only the birth year is asked). The one statement of the rule; the citizen API's grouped report
    statement (``reports.group_commit``) writes it in SQL from ``iso_year``."""
    return iso_year(monday) - birth_year


def onset_date(report_day: dt.date, fever_start: dt.date | None, symptom_start: dt.date | None) -> dt.date:
    """Onset = first known of fever start date, symptom start date, report date (ifnBase)."""
    return fever_start or symptom_start or report_day


# The Influenzanet season: 1 September to 31 August, named by its starting year. The one statement of the rule:
# scheduler.incidence.sqlfunctions.season_start writes it in SQL from this constant, and the PL/pgSQL of the season
# ordinal (reporting.reports.season_ordinal) is held to ``season_bounds`` by tests/scheduler/test_season_ordinal.py.
SEASON_START_MONTH = 9


def season_of(day: dt.date) -> int:
    """The season holding ``day`` (a report's week is filed by its Monday), named by its starting year."""
    return day.year if day.month >= SEASON_START_MONTH else day.year - 1


def season_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and the last day of the season holding ``day``."""
    year = season_of(day)
    return dt.date(year, SEASON_START_MONTH, 1), dt.date(year + 1, SEASON_START_MONTH, 1) - dt.timedelta(days=1)
