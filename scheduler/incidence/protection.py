"""Disclosure control of one week's linked published tables, audited as an attacker would solve them (issue 11).

The export and the open data publish, for one week and one participation method, an active table and one cases
table per case definition whose reference method it is (publishing.publish_week calls ``protect_week`` once per
method), over the same cells (``published_cell``: geography x age band, the nation's sexes, their margins). A
reader knows more than the margins of each table:

- every count is a whole number, 0 <= cases <= active in every cell, and a cell with 0 active has 0 cases;
- definitions nest (``DEFINITION_NESTING``: a fever-and-cough case is a COVID-like case is an ECDC COVID case
  is a case of "any symptom"), cell by cell. (Methods nest too, w0_3w within w0_if within w0, but only one
  method of each definition is published, so no reader has two of them to set against each other.)

``protect_week`` therefore decides the withheld cells of all those tables together:

1. Primary and low-precision withholding: an active count of 1-4 withholds its cell; a cell with fewer than
   COVIDMETER_MIN_ACTIVE active withholds its cases (reason 6, whatever they are); a case count of 1-4 is
   withheld (reason 3). Cells outside the published detail are withheld everywhere (reason 7).
2. The classic complementary suppression and exact linear audit of ``scheduler.incidence.disclosure.protect`` per table
   (cheap), preferring complements that have room for the whole protection range and are not headline cells.
3. An audit of the whole week by linear programming (HiGHS): every count of the week is a column; published
   counts are fixed, withheld ones free (>= 0); the rows are everything above. Every *sensitive* count (a withheld
   count whose true value is 1 to 4) must be able to take every value of 1..4 (Statistics Netherlands'
   tau-ARGUS: a feasible interval at least as wide as the protection level), so a reader learns nothing beyond
   "fewer than five"; the cases of a cell with 1-4 active must be able to take two values (nobody reads whether
   those few were ill) unless a published cell containing them shows 0 cases (a statement about a published
   group of 100 or more). Programs that push every unproven count down or up at once settle most counts; the
   rest get a program each.
4. A sensitive count whose interval is too narrow gets a complement: of the published counts that hold its bound
   (a reduced cost), the least costly to lose, and the audit looks again. Withholding more can only widen every
   interval, so counts that passed stay passed.

Tables of a week already published as final are ``frozen``: their published values and withheld cells are part
of what the reader knows and cannot change; complements are taken from the other tables.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from .disclosure import Cell, DisclosurePolicy, Relation, TableDisclosure, protect

log = logging.getLogger(__name__)

# (inner, outer): every case of the inner definition is a case of the outer one, report by report (their rules
# imply it; tests/scheduler/test_protection.py checks each claim on random reports with the reference rules).
DEFINITION_NESTING = (("fever.cough", "cli"), ("cli", "covid.ecdc"), ("covid.ecdc", "any.symptom"),
                      ("ari", "any.symptom"), ("ili.ecdc", "any.symptom"), ("covid.menni2020", "any.symptom"))

Key = tuple[Any, ...]  # ("active", method, cell) or ("cases", method, definition index, cell)
TOLERANCE = 1e-6
PUSH_ROUNDS = 8  # programs that move every unproven sensitive count at once, before one program per count


class InfeasibleAudit(RuntimeError):
    """The published figures and the counts contradict each other (possible only with ``frozen`` tables)."""


@dataclass(frozen=True)
class WeekTables:
    """One week's true counts: per method its active table and one cases table per definition."""

    active: Mapping[str, Mapping[Cell, int]]
    cases: Mapping[str, Sequence[Mapping[Cell, int]]]
    definitions: Sequence[str]  # the definition keys, in the order of each method's cases tables

    def values(self) -> dict[Key, int]:
        values: dict[Key, int] = {}
        for method, table in self.active.items():
            for cell, n in table.items():
                values[("active", method, cell)] = n
            for i, cases in enumerate(self.cases[method]):
                for cell, n in cases.items():
                    values[("cases", method, i, cell)] = n
        return values


@dataclass
class AuditReport:
    """What the audit did for one week: sensitive counts, complements added, LP solves."""

    sensitive: int = 0
    complements: int = 0
    solves: int = 0


def linked_constraints(tables: WeekTables, relations: Sequence[Relation]
                       ) -> tuple[list[dict[Key, float]], list[dict[Key, float]]]:
    """The reader's knowledge as linear rows over the week's counts: equalities (margins) and '<= 0' rows
    (cases <= active, the nesting of definitions)."""
    equal: list[dict[Key, float]] = []
    at_most: list[dict[Key, float]] = []
    methods = list(tables.active)
    index = {key: i for i, key in enumerate(tables.definitions)}
    for method in methods:
        tables_of = [("active", method)] + [("cases", method, i) for i in range(len(tables.definitions))]
        for prefix in tables_of:
            for margin, members in relations:
                row = {(*prefix, margin): 1.0}
                for member in members:
                    row[(*prefix, member)] = row.get((*prefix, member), 0.0) - 1.0
                equal.append(row)
        for cell in tables.active[method]:
            for i in range(len(tables.definitions)):
                at_most.append({("cases", method, i, cell): 1.0, ("active", method, cell): -1.0})
            for inner, outer in DEFINITION_NESTING:
                if inner in index and outer in index:
                    at_most.append({("cases", method, index[inner], cell): 1.0,
                                    ("cases", method, index[outer], cell): -1.0})
    return equal, at_most


_FIRST_SOLVER = threading.Lock()
_banner_shown = False


def _solver() -> highspy.Highs:
    """A silent HiGHS instance. The library prints its banner to standard output (file descriptor 1, from C++)
    when the process makes its first instance, before any option can be set: that one is made with the
    descriptor pointed at /dev/null, so no command's output (``covidmeter aggregate``, the demo) carries it."""
    global _banner_shown
    with _FIRST_SOLVER:
        if not _banner_shown:
            sys.stdout.flush()
            saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _banner_shown = True
        else:
            h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


class _Audit:
    """The week as one linear program: a column per count, fixed while published, free (>= 0) while withheld."""

    def __init__(self, keys: Sequence[Key], published: Mapping[Key, int], withheld: set[Key],
                 equal: Sequence[Mapping[Key, float]], at_most: Sequence[Mapping[Key, float]],
                 cap: float) -> None:
        self.keys = list(keys)
        self.column = {key: j for j, key in enumerate(self.keys)}
        self.solves = 0
        h = _solver()
        h.setOptionValue("presolve", "off")
        lower = np.array([0.0 if key in withheld else float(published[key]) for key in self.keys])
        self.cap = cap
        upper = np.array([cap if key in withheld else float(published[key]) for key in self.keys])
        h.addVars(len(self.keys), lower, upper)
        rows = [(row, 0.0, 0.0) for row in equal] + [(row, -highspy.kHighsInf, 0.0) for row in at_most]
        starts, indices, coefficients, row_lower, row_upper = [], [], [], [], []
        for row, lo, hi in rows:
            starts.append(len(indices))
            for key, coefficient in row.items():
                indices.append(self.column[key])
                coefficients.append(coefficient)
            row_lower.append(lo)
            row_upper.append(hi)
        h.addRows(len(rows), np.array(row_lower), np.array(row_upper), len(indices),
                  np.array(starts, dtype=np.int32), np.array(indices, dtype=np.int32), np.array(coefficients))
        self.h = h
        self._objective: int | None = None
        self.seen_low = np.array([float(published[key]) for key in self.keys])
        self.seen_high = self.seen_low.copy()

    def withhold(self, key: Key) -> None:
        self.h.changeColBounds(self.column[key], 0.0, self.cap)

    def bound(self, key: Key, sense: int) -> float:
        """The smallest (sense +1) or largest (sense -1) value of ``key`` consistent with the published counts;
        infinity when nothing bounds it from above."""
        j = self.column[key]
        if self._objective is not None and self._objective != j:
            self.h.changeColCost(self._objective, 0.0)
        self.h.changeColCost(j, float(sense))
        self._objective = j
        self.solves += 1
        self.h.run()
        status = self.h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            # HiGHS's warm start can end in a wrong verdict after many bound changes: solve once from scratch.
            self.h.clearSolver()
            self.h.run()
            status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return float("inf") if sense < 0 else float("-inf")
        if status == highspy.HighsModelStatus.kInfeasible:
            raise InfeasibleAudit("disclosure audit: the published figures contradict the counts")
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"disclosure audit: the linear program is {self.h.modelStatusToString(status)}")
        x = np.asarray(self.h.getSolution().col_value)
        np.minimum(self.seen_low, x, out=self.seen_low)
        np.maximum(self.seen_high, x, out=self.seen_high)
        return sense * self.h.getInfo().objective_function_value

    def push_all(self, keys: Sequence[Key], sense: int, limit: float, weights: Sequence[float] | None = None) -> None:
        """One program that moves every count of ``keys`` at once (down for sense +1; up to ``limit`` for -1, the
        others held at most there meanwhile, so the optimum spreads over many counts instead of one): its optimum
        is a point consistent with what is published that often shows most of them their range at once."""
        if self._objective is not None:
            self.h.changeColCost(self._objective, 0.0)
            self._objective = None
        columns = [self.column[key] for key in keys]
        for n, j in enumerate(columns):
            self.h.changeColCost(j, float(sense) * (1.0 if weights is None else weights[n]))
            if sense < 0:
                self.h.changeColBounds(j, 0.0, limit)
        self.solves += 1
        self.h.run()
        if self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            x = np.asarray(self.h.getSolution().col_value)
            np.minimum(self.seen_low, x, out=self.seen_low)
            np.maximum(self.seen_high, x, out=self.seen_high)
        for j in columns:
            self.h.changeColCost(j, 0.0)
            if sense < 0:
                self.h.changeColBounds(j, 0.0, self.cap)

    def met(self, key: Key, need: str | None, policy: DisclosurePolicy) -> bool:
        j = self.column[key]
        return need is None or _satisfied(need, self.seen_low[j], self.seen_high[j], policy)

    def short_side(self, key: Key, need: str, true: int, policy: DisclosurePolicy) -> tuple[int, float] | None:
        """None when ``key``'s interval meets its requirement; else the side that falls short (sense as in
        ``bound``) and its bound. Each optimum found is a point consistent with everything published, as is the
        truth: the values seen of every count bound its interval from inside, so a count whose seen values
        already meet the requirement needs no program of its own (most, after a few solves), and since
        withholding more only adds points, what was seen stays possible."""
        j = self.column[key]
        sides = [1, -1]
        if need == "open" and true == 0:
            sides = [-1]  # a count of 0 can only be shown open by going up
        for _attempt in range(3):
            if _satisfied(need, self.seen_low[j], self.seen_high[j], policy):
                return None
            if need == "range":
                sense = 1 if self.seen_low[j] > 1 + TOLERANCE else -1
                bound = self.bound(key, sense)
                if (bound > 1 + TOLERANCE) if sense == 1 else (bound < policy.suppress_below - 1 - TOLERANCE):
                    return sense, bound
            else:
                results = [(sense, self.bound(key, sense)) for sense in sides]
                if not _satisfied(need, self.seen_low[j], self.seen_high[j], policy):
                    return results[-1]
        return None if _satisfied(need, self.seen_low[j], self.seen_high[j], policy) else (1, self.seen_low[j])

    def binding(self, key: Key, sense: int) -> list[tuple[float, Key]]:
        """The published counts that hold ``key``'s bound (sense as in ``bound``) where it is, with their
        reduced costs: withholding one of them is what can move the bound."""
        self.bound(key, sense)
        duals = self.h.getSolution().col_dual
        return [(abs(duals[j]), self.keys[j]) for j in np.flatnonzero(np.abs(np.asarray(duals)) > TOLERANCE)
                if self.keys[j] != key]


def published_cell(cell: Cell) -> bool:
    """The cells published at all: the nation and each region by age band, the nation by sex (female, male),
    and their margins. Crosses of age band and sex, a region's sexes and sex 'other' are counted in the margins
    only: they are where nearly every small count would be, and each published one would need complements
    among the large cells beside it (docs/methods.md, "Disclosure control")."""
    geo_type, _code, band, sex = cell
    if sex == "all":
        return True
    return geo_type == "nation" and band == "all" and sex != "other"


def _components(values: Mapping[Key, int], equal: Sequence[Mapping[Key, float]],
                at_most: Sequence[Mapping[Key, float]]
                ) -> list[tuple[list[Key], tuple[list[Mapping[Key, float]], list[Mapping[Key, float]]]]]:
    """The week's counts split into groups no constraint links (w1_s2_if2_ex is nested with no other method, so
    it is a linear program of its own), each with its rows."""
    parent = {key: key for key in values}

    def find(key: Key) -> Key:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for row in (*equal, *at_most):
        first, *rest = row
        for key in rest:
            a, b = find(first), find(key)
            if a != b:
                parent[b] = a
    groups: dict[Key, list[Key]] = {}
    for key in values:
        groups.setdefault(find(key), []).append(key)
    rows: dict[Key, tuple[list[Mapping[Key, float]], list[Mapping[Key, float]]]] = {}
    for kind, table in ((0, equal), (1, at_most)):
        for row in table:
            rows.setdefault(find(next(iter(row))), ([], []))[kind].append(row)
    return [(keys, rows.get(root, ([], []))) for root, keys in groups.items()]


def _containers(cell: Cell) -> list[Cell]:
    """The cells whose count includes ``cell``'s (itself left out)."""
    geo_type, code, band, sex = cell
    geographies = {(geo_type, code), ("nation", "DK")}
    return [(g, c, b, x) for g, c in geographies for b in {band, "all"} for x in {sex, "all"}
            if (g, c, b, x) != cell]


def _requirement(key: Key, values: Mapping[Key, int], policy: DisclosurePolicy,
                 small_active: set[tuple[str, Cell]], zero_implied: set[Key] = frozenset()) -> str | None:
    """'range' for a count of 1-4 (its interval must contain 1..4), 'open' for the cases of a cell with 1-4
    active (at least two values), None for a count that needs no protection.

    The cases of a small cell inside a published cell with 0 cases are 0 for every reader: the zero says that
    nobody of that whole group (of 100 or more, or its cases would be withheld) was ill, which is a statement
    about the group that Statistics Denmark and the ONS publish too, not about the few people inside it."""
    if key[0] == "cases" and (key[1], key[-1]) in small_active and key not in zero_implied:
        return "open"
    if policy.is_small(values[key]):
        return "range"
    return None


def _satisfied(need: str, low: float, high: float, policy: DisclosurePolicy) -> bool:
    if need == "range":
        return low <= 1 + TOLERANCE and high >= policy.suppress_below - 1 - TOLERANCE
    return high - low >= 1 - TOLERANCE


def protect_week(tables: WeekTables, relations: Sequence[Relation], policy: DisclosurePolicy,
                 frozen: Mapping[Key, int | None] | None = None,
                 report: AuditReport | None = None) -> dict[str, TableDisclosure]:
    """Withheld cells of every method's tables of one week (see the module docstring)."""
    frozen = dict(frozen or {})
    report = report if report is not None else AuditReport()
    values = tables.values()
    published_values = {key: (frozen[key] if key in frozen and frozen[key] is not None else n)
                        for key, n in values.items()}
    cells = list(next(iter(tables.active.values())))
    hidden = {cell for cell in cells if not published_cell(cell)}
    withheld: set[Key] = set()
    privacy: set[tuple[str, int, Cell]] = set()
    for key, n in values.items():
        cell = key[-1]
        if cell in hidden:
            withheld.add(key)
        elif key[0] == "active" and policy.is_small(n):
            withheld.add(key)
            withheld.update(("cases", key[1], i, cell) for i in range(len(tables.definitions)))
        elif key[0] == "cases" and tables.active[key[1]][cell] < policy.min_active:
            withheld.add(key)  # low precision (reason 6) whatever the count, so the reason tells nothing of it
        elif key[0] == "cases" and policy.is_small(n):
            withheld.add(key)
            privacy.add((key[1], key[2], cell))
    for key, value in frozen.items():  # what is already published stays as it is
        (withheld.add if value is None else withheld.discard)(key)
    # The classic rule and the exact linear audit per table first (cheap): no margin with a single unknown.
    for method in tables.active:
        prefixes = [("active", method)] + [("cases", method, i) for i in range(len(tables.definitions))]
        for prefix in prefixes:
            if all((*prefix, cell) in frozen for cell in cells):
                continue  # published as final already: nothing of it can change
            table = {cell: values[(*prefix, cell)] for cell in cells}
            unknown = {cell for cell in cells if (*prefix, cell) in withheld}
            sensitive_cells = {cell for cell in unknown if policy.is_small(table[cell])
                               and (*prefix, cell) not in frozen}
            if not sensitive_cells:
                continue
            try:
                grown, _ = protect(table, unknown, sensitive_cells, relations,
                                   lambda cell, prefix=prefix: (*prefix, cell) not in frozen,
                                   room=policy.suppress_below)
            except RuntimeError:
                continue  # frozen neighbours leave this step nothing to withhold: the audit below decides
            for cell in grown - unknown:
                key = (*prefix, cell)
                withheld.add(key)
                if prefix[0] == "active":
                    withheld.update(("cases", method, i, cell) for i in range(len(tables.definitions)))
                else:
                    privacy.add((method, prefix[2], cell))
    small_active = {(key[1], key[2]) for key in values if key[0] == "active" and policy.is_small(values[key])}

    zero_implied = {key for key in values if key[0] == "cases" and any(
        (*key[:-1], container) not in withheld and published_values[(*key[:-1], container)] == 0
        for container in _containers(key[-1]) if container in cells)}
    equal, at_most = linked_constraints(tables, relations)
    # A nesting the truth does not keep this week (w0_3w and w0_if across the season turn) is no knowledge.
    at_most = [row for row in at_most if sum(c * values[key] for key, c in row.items()) <= 0]
    margins = {margin for margin, _ in relations}

    def rank(key: Key, k: Key) -> tuple[bool, bool, bool, bool, int, str]:
        """Which of the published counts that hold a bound to withhold: never a headline count (nation or
        region, all ages and sexes) while another will do, then counts with room for the whole protection
        range, the same table, finer cells, and the smallest count (the least information lost)."""
        n = published_values[k]
        headline = k[-1][2] == "all" and k[-1][3] == "all"
        return headline, n < policy.suppress_below, k[:-1] != key[:-1], k[-1] in margins, n, repr(k)

    def withhold(key: Key, audit: _Audit) -> None:
        withheld.add(key)
        audit.withhold(key)
        report.complements += 1
        if key[0] == "active":  # a withheld active count withholds its cell's cases (and rates) too
            for i in range(len(tables.definitions)):
                case_key = ("cases", key[1], i, key[2])
                if case_key not in withheld and case_key not in frozen:
                    withheld.add(case_key)
                    audit.withhold(case_key)
        else:
            privacy.add((key[1], key[2], key[3]))

    for keys, rows in _components(values, equal, at_most):
        sensitive = sorted((key for key in keys if key in withheld and key not in frozen
                            and _requirement(key, values, policy, small_active, zero_implied) is not None), key=repr)
        if not sensitive:
            continue
        report.sensitive += len(sensitive)
        # No count exceeds the panel: a bound every reader may take, which keeps every linear program bounded.
        cap = float(max(values[key] for key in keys) + policy.suppress_below)
        audit = _Audit(keys, published_values, withheld, rows[0], rows[1], cap)
        left = sensitive
        generator = np.random.default_rng(len(left))  # reproducible: the same tables give the same rounds
        for round_ in range(PUSH_ROUNDS):
            left = [key for key in left if not audit.met(key, _requirement(key, values, policy, small_active,
                                                                           zero_implied), policy)]
            if not left:
                break
            audit.push_all(left, 1 if round_ % 2 == 0 else -1, float(policy.suppress_below),
                           generator.uniform(0.2, 1.0, len(left)))
        for key in left:
            need = _requirement(key, values, policy, small_active, zero_implied)
            assert need is not None
            while (short := audit.short_side(key, need, values[key], policy)) is not None:
                sense, bound = short
                pool = sorted(((dual, k) for dual, k in audit.binding(key, sense)
                               if k not in withheld and k not in frozen),
                              key=lambda item: (*rank(key, item[1])[:2], -item[0], rank(key, item[1])))
                if not pool:
                    raise RuntimeError(f"cannot protect {key} (true {values[key]}, bound {bound}, need {need}): "
                                       "nothing published holds it")
                # Of the published counts that hold the bound (a reduced cost), the least costly to lose is withheld,
                # the one holding it hardest first among equals; the loop then looks again, since one complement
                # may not give the whole range.
                withhold(pool[0][1], audit)
        report.solves += audit.solves

    result: dict[str, TableDisclosure] = {}
    for method in tables.active:
        active_withheld = frozenset(cell for cell in tables.active[method] if ("active", method, cell) in withheld)
        cases_withheld, cases_privacy = [], []
        for i in range(len(tables.definitions)):
            cells = frozenset(cell for cell in tables.active[method] if ("cases", method, i, cell) in withheld)
            cases_withheld.append(cells)
            cases_privacy.append(frozenset(cell for cell in cells if (method, i, cell) in privacy
                                           or (cell in active_withheld and cell not in hidden)))
        result[method] = TableDisclosure(active_withheld, tuple(cases_withheld), tuple(cases_privacy),
                                         frozenset(hidden))
    return result
