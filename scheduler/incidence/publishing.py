"""Publishing one week and method: disclosure control (scheduler.incidence.protection and .disclosure),
intervals, age standardisation and the open-data flag over its counts; and what earlier final issues of the
weeks already published (``final_tables``), which the protection must take as known."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, select, tuple_

from reporting.models import MISSING_NONE, IncidenceEstimate

from .cells import CellKey, PublishedValues
from .counting import WeekCounts
from .definitions import CompiledDefinition
from .disclosure import DisclosurePolicy, TableDisclosure, disclose_table, public_rows, published, table_relations
from .estimates import WriteSummary
from .methods import Method
from .protection import InfeasibleAudit, Key, WeekTables, protect_week, published_cell
from .statistics import standardised_rate
from .strata import ALL, NATION, Strata


@dataclass
class WeekResult:
    week: dt.date
    method: str
    cells: int
    written: WriteSummary
    seconds: float
    national_active: int = 0
    national_cases: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None  # why nothing was computed (inputs purged by retention)
    participation: WriteSummary = field(default_factory=WriteSummary)


def publish_week(counts: WeekCounts, definitions: Sequence[CompiledDefinition], method: Method, strata: Strata,
                 policy: DisclosurePolicy, weights: Sequence[float],
                 frozen: Mapping[Key, int | None] | None = None) -> tuple[dict[CellKey, PublishedValues],
                                                                         TableDisclosure]:
    """Disclosure control, intervals, age standardisation and the open-data flag for one week and method.

    The definitions whose reference method this is are what the export and the open data publish: their tables
    and the method's active table are protected together against a reader who solves them as one system
    (scheduler.incidence.protection; ``frozen``: what an earlier final issue of this week already published). The other
    definitions (seen on the staff dashboard only) get table-by-table protection with the same active pattern.
    Cells outside the published detail (``protection.published_cell``) are withheld in every table."""
    relations = table_relations(strata.geographies(), [b.label for b in strata.bands], list(strata.sexes))
    hidden = frozenset(cell for cell in counts.active if not published_cell(cell))
    reference = [i for i, d in enumerate(definitions) if d.default_method == method.key]
    others = [i for i in range(len(definitions)) if i not in reference]
    # The method's active counts as a final issue of this week already published them: a definition published
    # later is decided and shown with the same ones, or the two would differ by whoever withdrew in between.
    shown_active = dict(counts.active)
    for key, value in (frozen or {}).items():
        if key[0] == "active" and value is not None:
            shown_active[key[2]] = value
    parts: dict[int, tuple[TableDisclosure, int]] = {}
    active_withheld = None
    if reference:
        tables = WeekTables({method.key: shown_active}, {method.key: [counts.cases[i] for i in reference]},
                            [definitions[i].key for i in reference])
        try:
            joint = protect_week(tables, relations, policy, frozen)[method.key]
        except InfeasibleAudit:
            # What an earlier final issue published no longer fits the reports (a withdrawal since): the tables
            # it did not publish are withheld whole rather than audited against figures that are not the truth.
            every = frozenset(counts.active)
            joint = TableDisclosure(every, tuple(every for _ in reference), tuple(every for _ in reference))
        active_withheld = joint.active_withheld
        parts.update({i: (joint, n) for n, i in enumerate(reference)})
    rest = disclose_table(shown_active, [counts.cases[i] for i in others], relations, policy, active_withheld,
                          hidden)
    parts.update({i: (rest, n) for n, i in enumerate(others)})
    disclosure = TableDisclosure(
        rest.active_withheld, tuple(parts[i][0].cases_withheld[parts[i][1]] for i in range(len(definitions))),
        tuple(parts[i][0].cases_privacy[parts[i][1]] for i in range(len(definitions))), hidden)
    result: dict[CellKey, PublishedValues] = {}
    for i, d in enumerate(definitions):
        cases = counts.cases[i]
        rows: dict[tuple[str, str, str, str], PublishedValues] = {}
        for cell, active in shown_active.items():
            rows[cell] = published(active, cases[cell], disclosure.reason(cell, i),
                                   cell in disclosure.active_withheld, policy.level)
        for (geo_type, geo_code, band, sex), values in list(rows.items()):
            if band != ALL or values.missing_reason != MISSING_NONE:
                continue
            strata_cells = [(geo_type, geo_code, b.label, sex) for b in strata.bands]
            # Only when every band is published: the standardised rate and the crude total would otherwise let
            # a reader solve for withheld band counts.
            if all(rows[c].missing_reason == MISSING_NONE and shown_active[c] > 0 for c in strata_cells):
                adjusted = standardised_rate([cases[c] for c in strata_cells],
                                             [shown_active[c] for c in strata_cells], weights, policy.level)
                rows[(geo_type, geo_code, band, sex)] = replace(
                    values, standardised_incidence=adjusted.rate, standardised_lower_95=adjusted.lower,
                    standardised_upper_95=adjusted.upper)
        public: set[tuple[str, str, str, str]] = set()
        if i in reference:  # open data is a subset of the export, which carries the reference method only
            public = public_rows(rows, ("nation", NATION, ALL, ALL),
                                 [("region", code, ALL, ALL) for _t, code in strata.geographies()[1:]], policy)
        for cell, values in rows.items():
            if cell in public:
                values = replace(values, public=True)
            result[CellKey(counts.week, *cell, d.key, d.version, method.key)] = values
    return result, disclosure


def final_tables(connection: Connection, weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition],
                 method: Method) -> dict[dt.date, dict[Key, int | None]]:
    """What final issues of these weeks already published for the definitions whose reference method this is,
    as ``scheduler.incidence.protection`` keys (None: withheld): the joint protection must take it as known."""
    reference = [d for d in definitions if d.default_method == method.key]
    if not reference:
        return {}
    e = IncidenceEstimate.__table__.c
    index = {(d.key, d.version): i for i, d in enumerate(reference)}
    rows = connection.execute(
        select(e.week, e.geo_type, e.geo_code, e.age_band, e.sex, e.definition_key, e.definition_version, e.active,
               e.cases)
        .where(e.final.is_(True), e.method == method.key, e.week.in_(list(weeks)),
               tuple_(e.definition_key, e.definition_version).in_(list(index))))
    frozen: dict[dt.date, dict[Key, int | None]] = {}
    for week, geo_type, geo_code, band, sex, key, version, active, cases in rows:
        cell = (geo_type, geo_code, band, sex)
        table = frozen.setdefault(week, {})
        table[("active", method.key, cell)] = active
        table[("cases", method.key, index[(key, version)], cell)] = cases
    return frozen
