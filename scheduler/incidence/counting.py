"""Counting: the counting statement (scheduler.incidence.statements) run for some weeks and one method, its
rows laid on the full grid of each week (``WeekCounts``; cells without participants count 0). The statement
is built once per process for the same inputs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from reporting.reports import season_ordinal

from . import caseflags
from .definitions import CompiledDefinition
from .methods import Method
from .statements import count_statement
from .strata import NATION, Band, Strata


@dataclass
class WeekCounts:
    """The full grid of one week and method: active per cell, cases per (cell, definition index)."""

    week: dt.date
    active: dict[tuple[str, str, str, str], int]
    cases: list[dict[tuple[str, str, str, str], int]]


def count_weeks(connection: Connection, weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition],
                method: Method, strata: Strata) -> dict[dt.date, WeekCounts]:
    """Counts for every cell of the full grid of each week (cells without participants count 0)."""
    if connection.dialect.name == "postgresql":
        settings = {
            # The statement's estimated cost (the guarded same-episode look-ups are costed as if run on every
            # row) makes PostgreSQL JIT-compile its ~250 expressions: 2.4 s of compiling for a 1 s query.
            "jit": "off",
            # Sorting a week's ~700,000 rows into ~50 cells spills to disk with the default 4 MB.
            "work_mem": "64MB"}
        if method.window_weeks == 0:
            # The second part joins its few candidates with their participants' reports of W: index probes
            # (a nested loop), not a hash join over every report of the season.
            settings.update(enable_hashjoin="off", enable_mergejoin="off")
        else:
            # The planner misjudges the row counts behind the season filters and may merge-join (or nested-loop
            # join) active participants with onsets, comparing every pair of the week (quadratic). A hash join on
            # (participant, week) is right for every size, as it is for the eligible reports and the tiny table
            # of target weeks, joined on the report's week.
            settings.update(enable_mergejoin="off", enable_nestloop="off")
        # For this transaction only (SET LOCAL), in one round trip.
        connection.execute(select(*[func.set_config(name, value, True) for name, value in settings.items()]))
    grid = [(geo_type, geo_code, band, sex) for geo_type, geo_code in strata.geographies()
            for band in strata.band_labels() for sex in strata.sex_labels()]
    result = {w: WeekCounts(w, dict.fromkeys(grid, 0), [dict.fromkeys(grid, 0) for _ in definitions])
              for w in weeks}
    bits = caseflags.usable_bits(connection, definitions)
    rule = caseflags.week_flags_rule(connection)
    statement = _cached_count_statement(
        tuple(weeks), tuple((d.key, d.version, caseflags.rule_sha256(d.rule)) for d in definitions), method,
        tuple(strata.bands), tuple(sorted(bits.items())), tuple(sorted(rule.items())) if rule else None,
        season_ordinal.present(connection), definitions=definitions)
    for row in connection.execute(statement).mappings():
        if row["age_band"] is None:  # an age outside every band: counted in the 'all' margins only
            continue
        week = row["week"] if isinstance(row["week"], dt.date) else dt.date.fromisoformat(row["week"])
        geo_code = NATION if row["geo_type"] == "nation" else str(row["region_code"])
        cell = (row["geo_type"], geo_code, row["age_band"], row["sex"])
        if cell not in result[week].active:  # a sex or region outside the reference data
            continue
        result[week].active[cell] = int(row["active"])
        for i in range(len(definitions)):
            result[week].cases[i][cell] = int(row[f"case_{i}"])
    return result


_STATEMENTS: dict[tuple, Any] = {}


def _cached_count_statement(weeks: tuple[dt.date, ...], rules: tuple[tuple[str, int, str], ...], method: Method,
                            bands: tuple[Band, ...], bits: tuple[tuple[tuple[str, int], int], ...],
                            rule: tuple[tuple[str, Any], ...] | None, ordinals: bool, *,
                            definitions: Sequence[CompiledDefinition]) -> Any:
    """``count_statement``, built once per process for the same weeks, rules, method, bands, bits, week
    flags rule and season ordinals (building it costs ~30 ms of Python; the scheduler asks for the same weeks
    all hour)."""
    key = (weeks, rules, method, bands, bits, rule, ordinals)
    statement = _STATEMENTS.get(key)
    if statement is None:
        if len(_STATEMENTS) >= 64:
            _STATEMENTS.pop(next(iter(_STATEMENTS)))
        statement = _STATEMENTS[key] = count_statement(weeks, definitions, method, bands, dict(bits),
                                                       dict(rule) if rule else None, ordinals)
    return statement


@dataclass(frozen=True)
class CellCount:
    """The counts of one cell of one week and method for one definition: the cell's key
    (scheduler.incidence.cells) without the week and the method, and the two counts (held to the key by
    tests/scheduler/test_cells.py)."""

    geo_type: str
    geo_code: str
    age_band: str
    sex: str
    definition_key: str
    definition_version: int
    active: int
    cases: int


def count_week(connection: Connection, week: dt.date, definitions: Sequence[CompiledDefinition],
               method: Method, strata: Strata) -> list[CellCount]:
    """Counts for every cell of the full grid of one week, one CellCount per cell and definition."""
    counts = count_weeks(connection, [week], definitions, method, strata)[week]
    return [CellCount(*cell, d.key, d.version, counts.active[cell], counts.cases[i][cell])
            for cell in counts.active for i, d in enumerate(definitions)]
