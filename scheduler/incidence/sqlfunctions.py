"""Small portable SQL functions (SQLite and PostgreSQL) the aggregation needs for dates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from reporting.weeks import SEASON_START_MONTH


class days_between(FunctionElement[float]):
    """(a - b) in days, fractional, for two timestamps."""

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


class date_diff_days(FunctionElement[int]):
    """(a - b) in whole days for two dates."""

    type = Integer()
    inherit_cache = True
    name = "date_diff_days"


@compiles(date_diff_days, "sqlite")
def _date_diff_sqlite(element: date_diff_days, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"CAST(julianday({compiler.process(a, **kw)}) - julianday({compiler.process(b, **kw)}) AS INTEGER)"


@compiles(date_diff_days)
def _date_diff_default(element: date_diff_days, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"(CAST({compiler.process(a, **kw)} AS DATE) - CAST({compiler.process(b, **kw)} AS DATE))"


class monday_of(FunctionElement[Any]):
    """The Monday of the ISO week of a date."""

    type = Date()
    inherit_cache = True
    name = "monday_of"


@compiles(monday_of, "sqlite")
def _monday_sqlite(element: monday_of, compiler: Any, **kw: Any) -> str:
    (a,) = list(element.clauses)
    return f"date({compiler.process(a, **kw)}, '-6 days', 'weekday 1')"


@compiles(monday_of)
def _monday_default(element: monday_of, compiler: Any, **kw: Any) -> str:
    (a,) = list(element.clauses)
    return f"CAST(date_trunc('week', CAST({compiler.process(a, **kw)} AS DATE)) AS DATE)"


class season_start(FunctionElement[Any]):
    """1 September of the Influenzanet season (1 September - 31 August) that holds a date."""

    type = Date()
    inherit_cache = True
    name = "season_start"


@compiles(season_start, "sqlite")
def _season_sqlite(element: season_start, compiler: Any, **kw: Any) -> str:
    (a,) = list(element.clauses)
    d = compiler.process(a, **kw)
    return (f"printf('%04d-{SEASON_START_MONTH:02d}-01', CAST(strftime('%Y', {d}) AS INTEGER) - "
            f"(CASE WHEN CAST(strftime('%m', {d}) AS INTEGER) >= {SEASON_START_MONTH} THEN 0 ELSE 1 END))")


@compiles(season_start)
def _season_default(element: season_start, compiler: Any, **kw: Any) -> str:
    (a,) = list(element.clauses)
    d = compiler.process(a, **kw)
    return (f"make_date(CAST(EXTRACT(YEAR FROM {d}) AS INTEGER) - "
            f"(CASE WHEN EXTRACT(MONTH FROM {d}) >= {SEASON_START_MONTH} THEN 0 ELSE 1 END), {SEASON_START_MONTH}, 1)")
