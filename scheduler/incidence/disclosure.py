"""Disclosure control, decided once when estimates are written (every consumer shows the same cells).

One week and method form a table: geography (the nation and its regions) x age band (and 'all') x sex (and
'all'), with two published counts per cell: active participants (shared by every definition) and cases (one
per definition). The margins are sums: nation = sum of regions, 'all' ages = sum of bands, 'all' sexes = sum of
sexes. The rules, in order:

1. Primary suppression (Danish Health Data Authority / Statistics Denmark: counts of fewer than five persons
   are not published; zero may be shown): an active count in 1 .. COVIDMETER_SUPPRESS_BELOW - 1 is withheld,
   and with it every value of the cell; a case count in that range is withheld with the cell's incidence and
   intervals. Reason 3 (privacy).
2. Low precision (Delphi discards estimates from fewer than 100 responses): a cell with fewer than
   COVIDMETER_MIN_ACTIVE active participants publishes its active count but no cases, incidence or interval.
   Reason 6, whatever the case count (so the reason tells nothing about it); a small count there is still
   protected like any other. An active count of 1-4 withholds the whole cell with reason 3.
3. Complementary suppression: no withheld privacy cell may be recoverable from published cells through the
   margins. ``protect`` first applies the classic rule for each margin relation (a relation with exactly one
   withheld cell gets a second one: the published member with the smallest non-zero count, finer cells before
   margins, zeros only when nothing else is left, since a reader may guess a structural zero),
   then audits the whole table exactly: a withheld cell is recoverable by linear combinations of the published
   ones exactly when its unit vector lies in the row space of the relations restricted to the withheld cells,
   i.e. when every vector of the null space is 0 at that cell (computed by SVD). A recoverable privacy cell gets
   one more complement in one of its relations, and the audit repeats until nothing is recoverable. Cells added
   this way are also reason 3, so a reader cannot tell primary from complementary suppression. Withheld
   low-precision cells are unknowns to a reader too; a cell whose case count is implied (0 active) never serves
   as a complement.

Active counts are protected once per week and method (they are shared by every definition, and participation
estimates reuse the same pattern); case counts per definition, with every cell whose active count is withheld
already withheld.

The open-data flag (``public``) is stricter still (``public_rows``): only nation and region rows of all ages
and both sexes, with no value withheld, at least COVIDMETER_PUBLIC_MIN_ACTIVE active participants and either 0
or at least COVIDMETER_PUBLIC_MIN_CASES cases; and the same complementary rule on the one public margin
(nation = sum of regions), so a region left out cannot be recovered from the public nation row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from reporting.models import MISSING_LOW_PRECISION, MISSING_NONE, MISSING_NOT_PUBLISHED, MISSING_PRIVACY

from .cells import PublishedValues
from .statistics import poisson_interval, standard_error, wilson_interval

Cell = tuple[Any, ...]
Relation = tuple[Cell, tuple[Cell, ...]]  # (margin, members that sum to it)


@dataclass(frozen=True)
class DisclosurePolicy:
    suppress_below: int = 5
    min_active: int = 100
    level: float = 0.95
    public_min_active: int = 200
    public_min_cases: int = 10

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DisclosurePolicy":
        return cls(suppress_below=int(config["COVIDMETER_SUPPRESS_BELOW"]),
                   min_active=int(config["COVIDMETER_MIN_ACTIVE"]),
                   public_min_active=int(config.get("COVIDMETER_PUBLIC_MIN_ACTIVE", 200)),
                   public_min_cases=int(config.get("COVIDMETER_PUBLIC_MIN_CASES", 10)))

    def is_small(self, count: int) -> bool:
        """A count that identifies too few persons to publish (zero may be shown)."""
        return 0 < count < self.suppress_below


def recoverable(withheld: Iterable[Cell], relations: Sequence[Relation], tolerance: float = 1e-9) -> set[Cell]:
    """The withheld cells whose value follows exactly from the published cells through ``relations``.

    Each relation says margin - sum(members) = 0; the published cells move to the right-hand side, so the
    withheld values x satisfy A x = b. A cell x_j is determined for every consistent b exactly when e_j is in
    the row space of A, i.e. when column j of every null-space basis vector is zero.

    An aggregation run audits the same few patterns again and again (weeks and definitions share their
    small cells), so answers are cached per (withheld cells, relations).
    """
    return set(_recoverable(frozenset(withheld), tuple(relations), tolerance))


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


@lru_cache(maxsize=4096)
def _recoverable(withheld: frozenset[Cell], relations: tuple[Relation, ...], tolerance: float) -> frozenset[Cell]:
    unknown = sorted(withheld, key=repr)
    if not unknown:
        return frozenset()
    index = {cell: j for j, cell in enumerate(unknown)}
    rows = []
    for margin, members in relations:
        row = np.zeros(len(unknown))
        if margin in index:
            row[index[margin]] += 1.0
        for member in members:
            if member in index:
                row[index[member]] -= 1.0
        if row.any():
            rows.append(row)
    if not rows:
        return frozenset()
    # The matrices are small (at most a few hundred entries a side): BLAS threads only add hand-over costs,
    # 28 ms instead of 4 ms per decomposition on two busy cores.
    with _blas().limit(limits=1, user_api="blas"):
        _u, singular, vt = np.linalg.svd(np.array(rows))
    rank = int((singular > tolerance * max(1.0, singular[0])).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        return frozenset(unknown)
    free = np.abs(null).max(axis=0) > 1e-7
    return frozenset(cell for cell, is_free in zip(unknown, free) if not is_free)


def protect(values: Mapping[Cell, int], withheld: set[Cell], protected: set[Cell], relations: Sequence[Relation],
            usable: Callable[[Cell], bool] = lambda cell: True, room: int = 0) -> tuple[set[Cell], set[Cell]]:
    """Complementary suppression: grow ``withheld`` (and ``protected``, the cells that must stay unknown) until
    no protected cell is recoverable from the published cells. Returns the new (withheld, protected) sets.
    With ``room``, complements of at least that count come first (a complement can hide at most its own count,
    which matters against readers who use bounds as well as sums: scheduler.incidence.protection)."""
    withheld, protected = set(withheld), set(protected)
    margins = {margin for margin, _ in relations}
    by_cell: dict[Cell, list[Relation]] = {}
    for relation in relations:
        for cell in (relation[0], *relation[1]):
            by_cell.setdefault(cell, []).append(relation)

    def rank(cell: Cell) -> tuple[bool, bool, bool, bool, int, str]:
        # Zero cells last (a reader may guess a structural zero, such as few 'other' sexes), a headline cell
        # (nation or region, all ages and sexes) only when nothing else is left, then finer cells before
        # margins, then the smallest count (the least information lost).
        headline = len(cell) == 4 and cell[2] == cell[3] == "all"
        return values[cell] == 0, headline, values[cell] < room, cell in margins, values[cell], repr(cell)

    def complement(relation: Relation) -> Cell | None:
        candidates = [c for c in (relation[0], *relation[1]) if c not in withheld and usable(c)]
        if not candidates:
            return None
        return min(candidates, key=rank)

    def add(cell: Cell) -> None:
        withheld.add(cell)
        protected.add(cell)

    for _round in range(10_000):
        changed = True
        while changed:  # the classic rule: no relation with exactly one withheld protected cell
            changed = False
            for relation in relations:
                unknown = [c for c in (relation[0], *relation[1]) if c in withheld]
                if len(unknown) == 1 and unknown[0] in protected:
                    pick = complement(relation)
                    if pick is not None:
                        add(pick)
                        changed = True
        exposed = sorted(recoverable(withheld, relations) & protected, key=repr)
        if not exposed:
            return withheld, protected
        cell = exposed[0]
        options = [pick for relation in by_cell.get(cell, []) if (pick := complement(relation)) is not None]
        if not options:  # every relation of the cell is withheld already: widen to the relations of its partners
            options = [pick for relation in by_cell.get(cell, []) for other in (relation[0], *relation[1])
                       for rel in by_cell.get(other, []) if (pick := complement(rel)) is not None]
        if not options:  # nothing left to suppress around it: withhold everything that is still usable
            for other in values:
                if other not in withheld and usable(other):
                    add(other)
            if cell in recoverable(withheld, relations):
                raise RuntimeError(f"cannot protect {cell}: the table's structure reveals it")
            return withheld, protected
        add(min(options, key=rank))
    raise RuntimeError("complementary suppression did not converge")


def table_relations(geographies: Sequence[tuple[str, str]], bands: Sequence[str], sexes: Sequence[str],
                    all_label: str = "all") -> list[Relation]:
    """The margin relations of one week's table. ``geographies`` starts with the nation; ``bands`` and
    ``sexes`` are the categories without the 'all' margin."""
    nation, regions = geographies[0], geographies[1:]
    band_labels, sex_labels = [*bands, all_label], [*sexes, all_label]
    relations: list[Relation] = []
    for band in band_labels:
        for sex in sex_labels:
            relations.append(((*nation, band, sex), tuple((*geo, band, sex) for geo in regions)))
    for geo in geographies:
        for sex in sex_labels:
            relations.append(((*geo, all_label, sex), tuple((*geo, band, sex) for band in bands)))
        for band in band_labels:
            relations.append(((*geo, band, all_label), tuple((*geo, band, sex) for sex in sexes)))
    return relations


@dataclass(frozen=True)
class TableDisclosure:
    """Which counts of one week and method are withheld, and why."""

    active_withheld: frozenset[Cell]
    cases_withheld: tuple[frozenset[Cell], ...]  # per definition: privacy or low precision
    cases_privacy: tuple[frozenset[Cell], ...]  # per definition: the privacy part (reason 3)
    unpublished: frozenset[Cell] = frozenset()  # cells counted in the margins only (reason 7)

    def reason(self, cell: Cell, definition: int) -> int:
        if cell in self.unpublished:
            return MISSING_NOT_PUBLISHED
        if cell in self.active_withheld or cell in self.cases_privacy[definition]:
            return MISSING_PRIVACY
        if cell in self.cases_withheld[definition]:
            return MISSING_LOW_PRECISION
        return MISSING_NONE


def protect_active(active: Mapping[Cell, int], relations: Sequence[Relation],
                   policy: DisclosurePolicy, unpublished: frozenset[Cell] = frozenset()) -> frozenset[Cell]:
    small = {cell for cell, n in active.items() if policy.is_small(n)}
    withheld, _ = protect(active, small | unpublished, small, relations, room=policy.suppress_below)
    return frozenset(withheld)


def disclose_table(active: Mapping[Cell, int], cases: Sequence[Mapping[Cell, int]], relations: Sequence[Relation],
                   policy: DisclosurePolicy, active_withheld: frozenset[Cell] | None = None,
                   unpublished: frozenset[Cell] = frozenset()) -> TableDisclosure:
    """Primary, low-precision and complementary suppression for one week and method, table by table (the
    tables no reader outside the service sees: scheduler.incidence.protection protects the published ones together).
    ``unpublished`` cells are counted in the margins only: unknowns to a reader, withheld with reason 7."""
    for table in cases:
        for cell, n in table.items():
            if n > active[cell]:
                raise ValueError(f"more cases ({n}) than active participants ({active[cell]}) in {cell}")
    if active_withheld is None:
        active_withheld = protect_active(active, relations, policy, unpublished)
    active_withheld = active_withheld | unpublished
    withheld_all, privacy_all = [], []
    for table in cases:
        # Low precision first: a cell with too few active has its cases withheld with reason 6 whatever they are,
        # so the reason says nothing about the count (had privacy won, reason 6 would tell "not 1..4").
        low = {cell for cell, n in active.items() if n < policy.min_active and cell not in active_withheld}
        small = {cell for cell, n in table.items() if policy.is_small(n)}
        privacy = (set(active_withheld) - unpublished) | (small - low)
        # A cell with 0 active published has 0 cases for certain: it can never hide anything.
        usable = lambda cell: not (cell not in active_withheld and active[cell] == 0)  # noqa: E731
        withheld, protected = protect(table, privacy | low | unpublished, privacy | small, relations, usable,
                                      room=policy.suppress_below)
        withheld_all.append(frozenset(withheld))
        privacy_all.append(frozenset((protected - unpublished - low) | privacy))
    return TableDisclosure(active_withheld, tuple(withheld_all), tuple(privacy_all), unpublished)


def published(active: int, cases: int, reason: int, active_withheld: bool, level: float = 0.95) -> PublishedValues:
    """The values of one cell given its disclosure decision (crude incidence, Poisson, Wilson, stderr)."""
    if active_withheld:
        return PublishedValues(None, None, None, None, None,
                               MISSING_NOT_PUBLISHED if reason == MISSING_NOT_PUBLISHED else MISSING_PRIVACY)
    if reason != MISSING_NONE:
        return PublishedValues(active, None, None, None, None, reason)
    lower, upper = poisson_interval(cases, active, level)
    wilson_lower, wilson_upper = wilson_interval(cases, active, level)
    return PublishedValues(active, cases, cases / active, lower, upper, MISSING_NONE, wilson_lower, wilson_upper,
                           standard_error(cases, active))


def disclose_cell(active: int, cases: int, policy: DisclosurePolicy) -> PublishedValues:
    """Primary suppression and the low-precision rule for one cell on its own (no complementary step)."""
    if cases > active:
        raise ValueError(f"more cases ({cases}) than active participants ({active})")
    if policy.is_small(active):
        return published(active, cases, MISSING_PRIVACY, True, policy.level)
    if active < policy.min_active:  # before privacy: reason 6 must not tell that the count is not 1..4
        return published(active, cases, MISSING_LOW_PRECISION, False, policy.level)
    if policy.is_small(cases):
        return published(active, cases, MISSING_PRIVACY, False, policy.level)
    return published(active, cases, MISSING_NONE, False, policy.level)


def public_rows(rows: Mapping[Cell, PublishedValues], nation: Cell, regions: Sequence[Cell],
                policy: DisclosurePolicy) -> set[Cell]:
    """The open-data subset of one definition's (geo, 'all', 'all') rows: see the module docstring."""
    def passes(values: PublishedValues) -> bool:
        return (values.missing_reason == MISSING_NONE and values.active is not None and values.cases is not None
                and values.active >= policy.public_min_active
                and (values.cases == 0 or values.cases >= policy.public_min_cases))

    cells = [nation, *regions]
    public = {cell for cell in cells if cell in rows and passes(rows[cell])}
    hidden = {cell for cell in cells if cell not in public}
    counts = {cell: rows[cell].cases if rows[cell].cases is not None else 0 for cell in cells}
    withheld, _ = protect(counts, hidden, hidden, [(nation, tuple(regions))])
    return public - withheld
