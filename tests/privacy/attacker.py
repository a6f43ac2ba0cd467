"""An independent attacker on the published figures (issue 11, item 2: "the attacker in the tests").

What the attacker knows, and nothing more:

1. **Everything a token holder and the public can download** (``collect``): the export API in every format
   (``incidence.json``, ``.jsonl``, ``.csv``, ``influenzanet.csv``), for every case definition and every
   method the API admits (both listed by the API itself, from its 422 answers), every ``geo_type``, with
   ``as_of`` at every issue date that appears in any download (and without), and the open data
   (``open/incidence.*``). Paths of the OpenAPI document that it does not know how to read are listed in
   ``Publication.unread_endpoints`` so that a new endpoint cannot go unnoticed; one whose path names
   participation is read as participation rows (registered, active, new profiles).
2. **Public knowledge** (``Knowledge``), the documented rules of docs/methods.md that every reader has:
   counts are integers; ``0 <= cases <= active`` in every cell (so a cell with 0 active has 0 cases);
   the margins (nation = sum of regions, ``all`` ages = sum of bands, ``all`` sexes = female + male + other)
   for active counts and for the cases of every definition and method; the nesting of definitions
   (``fever.cough`` cases are ``cli`` cases, ...) and of methods (a ``w0_3w`` participant is a ``w0_if``
   participant is a ``w0`` participant, in the same cell) -- only the claims that the tests verified on the
   true counts are used; the meaning of reason code 6 (low precision: "privacy wins", so its withheld cases are
   not 1..4) when it holds; the standard population weights (table ``standard_populations``), which make the
   standardised rate a linear function of the band cases; the formulas of every published interval and error
   (``scheduler.incidence.statistics``: public, documented methods, no disclosure code); and, for revision
   differencing, the fact that exactly one person withdrew between two issue dates (``Withdrawal``).
3. **For judging only**, the true counts (``Truth``, from ``scheduler.incidence.counting.count_weeks``). The
   truth never enters the integer program; it only picks which withheld counts are worth solving for and scores
   the result.

It never imports ``scheduler.incidence.disclosure``: the attack must not depend on the protection it attacks.

How it works: every published row is an observation of one *state* (the figures of one aggregation run, named
by its issue date) of one cell. A row of issue ``i`` read with ``as_of=D`` holds for every run of its week from
``i`` to ``D``. Each (state, week, method, cell) has an integer active count and each (..., definition, cell)
an integer case count; published values fix them, derived fields (incidence, Poisson and Wilson bounds,
Delphi stderr, standardised rates, Influenzanet proportions) constrain them, and the public knowledge above
links them. Withdrawals add, per cell, ``delta = old - new`` in {0, 1}. The integer program is reduced by
propagation (the differencing a person does by hand), split into independent components, and solved with
HiGHS (``scipy.optimize.milp``): many feasible integer points from varied objectives show most counts to be
protected at once, and each remaining count gets its exact feasible interval [min, max].

``attack`` returns an ``AttackResult`` whose ``summary()`` names every leak with examples.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from scheduler.incidence.statistics import poisson_interval, standard_error, wilson_interval

ALL = "all"
NATION = "DK"
SMALL = range(1, 5)  # the protection range: a published count of 1..4 would single out people
INFINITY = 6_000_000  # nobody counts more people than live in Denmark (keeps every program bounded)

Cell = tuple[str, str, str]  # (geo code, age band, sex)
Definition = tuple[str, int]  # (key, version)
Var = tuple[Any, ...]


# --- what was published -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The published cells of one week: nation and regions x age bands and 'all' x sexes and 'all'."""

    regions: tuple[str, ...]
    bands: tuple[str, ...]
    sexes: tuple[str, ...]

    @property
    def geos(self) -> tuple[str, ...]:
        return (NATION, *self.regions)

    def cells(self) -> list[Cell]:
        return [(g, b, s) for g in self.geos for b in (*self.bands, ALL) for s in (*self.sexes, ALL)]

    def finest(self) -> list[Cell]:
        return [(g, b, s) for g in self.regions for b in self.bands for s in self.sexes]

    def relations(self) -> list[tuple[Cell, tuple[Cell, ...]]]:
        """Every margin: (total, its parts). Public knowledge: the tables add up."""
        relations = []
        for b in (*self.bands, ALL):
            for s in (*self.sexes, ALL):
                relations.append(((NATION, b, s), tuple((r, b, s) for r in self.regions)))
        for g in self.geos:
            for s in (*self.sexes, ALL):
                relations.append(((g, ALL, s), tuple((g, b, s) for b in self.bands)))
            for b in (*self.bands, ALL):
                relations.append(((g, b, ALL), tuple((g, b, s) for s in self.sexes)))
        return relations


@dataclass(frozen=True)
class Measure:
    """A published value derived from a cell's counts, as a proportion, with its rounding tolerance."""

    name: str  # incidence, poisson_lower, poisson_upper, wilson_lower, wilson_upper, stderr, std_rate
    value: float
    tolerance: float


@dataclass(frozen=True)
class Row:
    """One published cell as read from one download. ``issue`` None: the download did not say (Influenzanet)."""

    source: str
    view: dt.date | None  # the as_of of the download (None: the newest figures)
    issue: dt.date | None
    week: dt.date
    method: str
    definition: Definition
    cell: Cell
    active: int | None = None
    cases: int | None = None
    missing_reason: int | None = None
    measures: tuple[Measure, ...] = ()


@dataclass(frozen=True)
class ParticipationRow:
    source: str
    view: dt.date | None
    issue: dt.date | None
    week: dt.date
    geo: str
    registered: int | None
    active: int | None
    new_profiles: int | None


@dataclass
class Publication:
    """Everything read, normalised (``rows``), plus what the reader knows about the layout."""

    grid: Grid
    rows: list[Row] = field(default_factory=list)
    participation: list[ParticipationRow] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # standard population per age band
    downloads: int = 0
    unread_endpoints: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- downloading everything -------------------------------------------------------------------------------

INCIDENCE_FORMATS = ("json", "jsonl", "csv")
GEO_TYPES = (None, "nation", "region")
PER_1000_TOLERANCE = 0.5e-4 / 1000 * 1.001 + 1e-15  # a per-1,000 figure rounded to 4 decimals, as a proportion
_KNOWN = re.compile(r"known: (.*)$")


def _float_tolerance(value: float) -> float:
    return 1e-12 + 1e-9 * abs(value)


def _known_list(response: Any) -> list[str]:
    """The list an API problem document gives after 'known: ' (definitions, methods)."""
    detail = (response.get_json(silent=True) or {}).get("detail", "")
    match = _KNOWN.search(detail)
    return [part.strip() for part in match.group(1).split(",")] if match else []


def _cell_value(text: str | None) -> Any:
    """A CSV cell back to text: empty is None; a quote the spreadsheet guard put in front is dropped."""
    if text is None or text == "":
        return None
    if text.startswith("'") and len(text) > 1 and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def _rows_of(response: Any, kind: str) -> list[dict[str, Any]]:
    body = response.get_data(as_text=True)
    if kind == "json":
        return list(json.loads(body)["rows"])
    if kind == "jsonl":
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    return [{k: _cell_value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(body))]


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(float(value))


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _date(value: Any) -> dt.date | None:
    return None if value in (None, "") else dt.date.fromisoformat(str(value))


def _week_of_yearweek(value: Any) -> dt.date:
    number = int(value)
    return dt.date.fromisocalendar(number // 100, number % 100, 1)


def export_row(raw: Mapping[str, Any], source: str, view: dt.date | None) -> Row:
    """An export row (our columns and Delphi's) as an observation: every numeric field that carries
    information becomes a count or a ``Measure``."""
    measures = []
    for name, column in (("incidence", "incidence_per_1000"), ("incidence", "value"), ("poisson_lower", "lower_95"),
                         ("poisson_upper", "upper_95"), ("wilson_lower", "wilson_lower_95"),
                         ("wilson_upper", "wilson_upper_95"), ("stderr", "stderr"),
                         ("std_rate", "standardised_per_1000"), ("std_lower", "standardised_lower_95"),
                         ("std_upper", "standardised_upper_95")):
        value = _num(raw.get(column))
        if value is not None:
            measures.append(Measure(name, value / 1000, PER_1000_TOLERANCE))
    active = _int(raw.get("active"))
    sample_size = _int(raw.get("sample_size"))
    if active is None:
        active = sample_size
    reason = _int(raw.get("missing_reason"))
    return Row(source, view, _date(raw.get("issue")), dt.date.fromisoformat(str(raw["week_start"])),
               str(raw["method"]), (str(raw["definition"]), int(raw["definition_version"])),
               (str(raw["geo_code"]), str(raw["age_band"]), str(raw["sex"])), active, _int(raw.get("cases")),
               reason, tuple(dict.fromkeys(measures)))


def influenzanet_rows(raw_rows: Iterable[Mapping[str, Any]], source: str, view: dt.date | None,
                      versions: Mapping[str, int]) -> list[Row]:
    """The Influenzanet file (national, all ages, both sexes; unrounded proportions): crude and adjusted rows.
    It names no version or issue: the version is the one the API serves (the newest), the issue is unknown."""
    rows = []
    for raw in raw_rows:
        key = str(raw["syndrome"])
        crude = raw.get("type") == "crude"
        names = {"incidence": "incidence", "lower": "poisson_lower", "upper": "poisson_upper"} if crude else \
            {"incidence": "std_rate", "lower": "std_lower", "upper": "std_upper"}
        measures = [Measure(name, value, _float_tolerance(value)) for column, name in names.items()
                    if (value := _num(raw.get(column))) is not None]
        rows.append(Row(source, view, None, _week_of_yearweek(raw["yw"]), str(raw["method"]),
                        (key, versions.get(key, 1)), (NATION, ALL, ALL), _int(raw.get("part")),
                        _int(raw.get("count")), None, tuple(measures)))
    return rows


def collect(client: Any, token: str, *, thorough: bool = True, weights: Mapping[str, float] | None = None,
            regions: Sequence[str] | None = None) -> Publication:
    """Download everything a token holder and the public can, with ``as_of`` at every issue date seen.

    ``thorough``: every format of the export and of the open data, and each ``geo_type`` on its own (JSON);
    otherwise JSON without ``geo_type`` (every geography) and the Influenzanet file. The other downloads are
    the same rows in other forms, which a test checks (``Compiled.disagreements`` is empty with
    ``thorough``); the attacker merges whatever it gets. ``weights`` (the published standard population)
    and ``regions`` (the five regions, public) default to what the downloads show."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    publication = Publication(Grid((), (), ()))
    spec = client.get("/api/v1/openapi.json").get_json(silent=True) or {}
    read = {"/api/v1/incidence.json", "/api/v1/incidence.jsonl", "/api/v1/incidence.csv", "/api/v1/influenzanet.csv",
            "/api/v1/open/incidence.json", "/api/v1/open/incidence.jsonl", "/api/v1/open/incidence.csv",
            "/api/v1/openapi.json", "/api/v1/docs"}
    participation_paths = [p for p in spec.get("paths", {}) if "participation" in p]
    # The citizen API (/me) serves a person their own data; a catalogue lists definitions and weeks, no counts.
    publication.unread_endpoints = sorted(p for p in spec.get("paths", {})
                                          if p not in read and p not in participation_paths
                                          and not p.startswith("/api/v1/me") and "catalog" not in p)

    def get(path: str, params: Mapping[str, Any], auth: bool = True) -> Any:
        publication.downloads += 1
        query = {k: v for k, v in params.items() if v is not None}
        return client.get(path, query_string=query, headers=headers if auth else {})

    definitions = _known_list(get("/api/v1/incidence.json", {"definition": "?"}))
    methods: dict[str, list[str]] = {d: _known_list(get("/api/v1/incidence.json", {"definition": d, "method": "?"}))
                                     for d in definitions}
    versions: dict[str, int] = {}
    views: list[dt.date | None] = [None]
    done: set[dt.date | None] = set()
    while views:
        view = views.pop(0)
        if view in done:
            continue
        done.add(view)
        issues: set[dt.date] = set()
        for definition in definitions:
            for method in methods[definition]:
                base = {"definition": definition, "method": method,
                        "as_of": view.isoformat() if view else None}
                kinds = [(k, None) for k in INCIDENCE_FORMATS] + [("json", g) for g in GEO_TYPES[1:]] if thorough \
                    else [("json", None)]
                for kind, geo_type in kinds:
                    response = get(f"/api/v1/incidence.{kind}", {**base, "geo_type": geo_type})
                    if response.status_code != 200:
                        continue
                    for raw in _rows_of(response, kind):
                        row = export_row(raw, f"incidence.{kind}?geo_type={geo_type}", view)
                        versions[definition] = row.definition[1]
                        publication.rows.append(row)
                        issues.add(row.issue)
                for kind in (INCIDENCE_FORMATS if thorough else ("json",)):
                    response = get(f"/api/v1/open/incidence.{kind}", base, auth=False)
                    if response.status_code == 200:
                        for raw in _rows_of(response, kind):
                            publication.rows.append(export_row(raw, f"open/incidence.{kind}", view))
                            issues.add(publication.rows[-1].issue)
                response = get("/api/v1/influenzanet.csv", base)
                if response.status_code == 200:
                    publication.rows.extend(influenzanet_rows(_rows_of(response, "csv"), "influenzanet.csv", view,
                                                              versions))
        for path in participation_paths:
            response = get(path, {"as_of": view.isoformat() if view else None})
            if response.status_code == 200:
                kind = "csv" if path.endswith(".csv") else "jsonl" if path.endswith(".jsonl") else "json"
                for raw in _rows_of(response, kind):
                    publication.participation.append(ParticipationRow(
                        path, view, _date(raw.get("issue")), _date(raw.get("week_start")) or _week_of_iso(raw),
                        str(raw.get("geo_code")), _int(raw.get("registered")), _int(raw.get("active")),
                        _int(raw.get("new_profiles"))))
                    if publication.participation[-1].issue:
                        issues.add(publication.participation[-1].issue)
        views.extend(sorted(d for d in issues if d is not None and d not in done))
    geos = {r.cell[0] for r in publication.rows}
    bands = [b for b in dict.fromkeys(r.cell[1] for r in publication.rows) if b != ALL]
    sexes = [s for s in dict.fromkeys(r.cell[2] for r in publication.rows) if s != ALL]
    publication.grid = Grid(tuple(sorted(regions or (geos - {NATION}))), tuple(_band_order(bands)),
                            tuple(sorted(sexes)))
    publication.weights = dict(weights or {})
    publication.seconds = time.perf_counter() - started
    return publication


def _week_of_iso(raw: Mapping[str, Any]) -> dt.date:
    year, week = str(raw["week"]).split("-W")
    return dt.date.fromisocalendar(int(year), int(week), 1)


def _band_order(bands: Iterable[str]) -> list[str]:
    return sorted(bands, key=lambda b: int(re.match(r"\d+", b).group()) if re.match(r"\d+", b) else 0)


# --- public knowledge ------------------------------------------------------------------------------------

# The nesting the issue names (docs/methods.md): (subset, superset), by key. Tests verify them on the truth.
DEFINITION_NESTING: tuple[tuple[str, str], ...] = (
    ("fever.cough", "cli"), ("cli", "covid.ecdc"), ("covid.ecdc", "any.symptom"), ("ari", "any.symptom"),
    ("ili.ecdc", "any.symptom"), ("covid.menni2020", "any.symptom"))
METHOD_NESTING: tuple[tuple[str, str], ...] = (("w0_3w", "w0_if"), ("w0_if", "w0"))


@dataclass(frozen=True)
class Withdrawal:
    """Revision knowledge: ``persons`` people withdrew after the run of ``before`` and before the run of
    ``after``, and nothing else changed (no late report)."""

    before: dt.date
    after: dt.date
    persons: int = 1


@dataclass(frozen=True)
class Knowledge:
    """What every reader knows besides the downloads (see the module docstring)."""

    definition_nesting: tuple[tuple[str, str], ...] = DEFINITION_NESTING
    method_nesting: tuple[tuple[str, str], ...] = METHOD_NESTING
    # Reason 6 with withheld cases once meant "0 or >= 5" (privacy won); since issue 11 it says nothing of the
    # count (low precision wins), so this knowledge is off unless a test turns it on to model the old rule.
    low_precision_not_small: bool = False
    margins_exact: bool = True  # 'all' = the sum of its parts (else only >=)
    withdrawals: tuple[Withdrawal, ...] = ()


# --- the integer program ---------------------------------------------------------------------------------


class Infeasible(Exception):
    """The observations and the knowledge contradict each other (a false assumption or a disagreement)."""


@dataclass
class Model:
    """Integer variables named by tuples, with bounds and rows ``lo <= sum(coef * term) <= hi``. A term is a
    variable or a named *expression* (a sum of variables: a published cell is the sum of its atoms)."""

    index: dict[Var, int] = field(default_factory=dict)
    names: list[Var] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float, str]] = field(default_factory=list)
    expressions: dict[Var, dict[int, float]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def var(self, name: Var, lb: float = 0, ub: float = INFINITY, integer: bool = True) -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
            self.lb.append(lb)
            self.ub.append(ub)
            self.integer.append(integer)
        return i

    def expression(self, name: Var, parts: Iterable[Var]) -> None:
        terms: dict[int, float] = defaultdict(float)
        for part in parts:
            terms[self.var(part)] += 1.0
        self.expressions[name] = dict(terms)

    def terms(self, terms: Mapping[Var, float]) -> dict[int, float]:
        """Variables and coefficients of a weighted sum of variables and expressions."""
        out: dict[int, float] = defaultdict(float)
        for name, coef in terms.items():
            if name in self.expressions:
                for i, c in self.expressions[name].items():
                    out[i] += coef * c
            else:
                out[self.var(name)] += coef
        return {i: c for i, c in out.items() if c != 0}

    def add(self, terms: Mapping[Var, float], lo: float, hi: float, why: str) -> None:
        expanded = self.terms(terms)
        if len(expanded) == 1:
            [(i, c)] = expanded.items()
            lo, hi = (lo / c, hi / c) if c > 0 else (hi / c, lo / c)
            if self.integer[i]:
                lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
            self.lb[i], self.ub[i] = max(self.lb[i], lo), min(self.ub[i], hi)
            if self.lb[i] > self.ub[i]:
                self.conflicts.append(f"{why}: {self.names[i]} in [{self.lb[i]}, {self.ub[i]}]")
        elif expanded:
            self.rows.append((expanded, lo, hi, why))
        elif not lo - 1e-9 <= 0 <= hi + 1e-9:
            self.conflicts.append(f"{why}: 0 not in [{lo}, {hi}]")

    def fix(self, name: Var, value: float, why: str) -> None:
        self.add({name: 1.0}, value, value, why)

    def at_most(self, small: Var, large: Var, why: str) -> None:
        self.add({small: 1.0, large: -1.0}, -math.inf, 0, why)

    def matrix(self) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
        data, rows, cols = [], [], []
        for r, (terms, _lo, _hi, _why) in enumerate(self.rows):
            rows.extend([r] * len(terms))
            cols.extend(terms.keys())
            data.extend(terms.values())
        shape = (len(self.rows), len(self.names))
        return (csr_matrix((data, (rows, cols)), shape=shape), np.array([r[1] for r in self.rows], float),
                np.array([r[2] for r in self.rows], float))


def propagate(model: Model, rounds: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Bound propagation over every row at once (interval arithmetic, integers rounded inwards) until nothing
    moves: the differencing and bounding a reader does by hand. Returns (lb, ub); raises Infeasible."""
    lb = np.array(model.lb, dtype=float)
    ub = np.array(model.ub, dtype=float)
    if not model.rows:
        return lb, ub
    matrix, lo, hi = model.matrix()
    coo = matrix.tocoo()
    row, col, coef = coo.row, coo.col, coo.data
    positive = coef > 0
    integer = np.array(model.integer)
    for _ in range(rounds):
        low = np.where(positive, coef * lb[col], coef * ub[col])
        high = np.where(positive, coef * ub[col], coef * lb[col])
        row_low = np.bincount(row, low, len(lo))
        row_high = np.bincount(row, high, len(lo))
        bad = (row_low > hi + 1e-6) | (row_high < lo - 1e-6)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise Infeasible(f"{model.rows[r][3]}: activity [{row_low[r]}, {row_high[r]}] outside "
                             f"[{lo[r]}, {hi[r]}]")
        rest_low, rest_high = row_low[row] - low, row_high[row] - high
        with np.errstate(invalid="ignore"):
            upper_from_hi = (hi[row] - rest_low) / coef  # c > 0: an upper bound; c < 0: a lower bound
            lower_from_lo = (lo[row] - rest_high) / coef  # c > 0: a lower bound; c < 0: an upper bound
        new_ub, new_lb = ub.copy(), lb.copy()
        np.minimum.at(new_ub, col, np.where(positive, upper_from_hi, lower_from_lo))
        np.maximum.at(new_lb, col, np.where(positive, lower_from_lo, upper_from_hi))
        new_ub = np.where(integer, np.floor(new_ub + 1e-6), new_ub)
        new_lb = np.where(integer, np.ceil(new_lb - 1e-6), new_lb)
        if (new_lb > new_ub + 1e-6).any():
            i = int(np.flatnonzero(new_lb > new_ub + 1e-6)[0])
            raise Infeasible(f"{model.names[i]} in [{new_lb[i]}, {new_ub[i]}]")
        moved = (new_ub < ub - 1e-9).any() or (new_lb > lb + 1e-9).any()
        lb, ub = new_lb, new_ub
        if not moved:
            break
    return lb, ub


@dataclass
class Component:
    """Free variables linked by rows (or by one expression to settle), solved together."""

    variables: list[int]
    rows: list[int]


def components(model: Model, lb: np.ndarray, ub: np.ndarray, expressions: Iterable[Var] = ()) -> list[Component]:
    free = ub - lb > 0.5
    parent = list(range(len(model.names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(members: Sequence[int]) -> None:
        if members:
            root = find(members[0])
            for i in members[1:]:
                other = find(i)
                if other != root:
                    parent[other] = root

    rows = []
    for r, (terms, _lo, _hi, _why) in enumerate(model.rows):
        members = [i for i in terms if free[i]]
        if members:
            rows.append((r, members[0]))
            join(members)
    for name in expressions:
        join([i for i in model.expressions[name] if free[i]])
    groups: dict[int, Component] = {}
    for i in np.flatnonzero(free):
        groups.setdefault(find(int(i)), Component([], [])).variables.append(int(i))
    for r, first in rows:
        groups[find(first)].rows.append(r)
    return list(groups.values())


def _highs_module() -> Any:
    """HiGHS's Python bindings: highspy when installed, else the same bindings that scipy ships (scipy's
    ``milp`` and ``linprog(method="highs")`` run on them). A persistent model re-solved with a new objective
    warm-starts, about 20 times faster than a fresh ``milp`` call on these programs."""
    try:
        import highspy

        return highspy
    except ImportError:  # pragma: no cover - depends on the environment
        from scipy.optimize._highspy import _core

        return _core


class ComponentSolver:
    """One component as two persistent HiGHS models over its free variables (fixed ones folded into the row
    bounds): the MILP, and its LP relaxation for cheap bounds."""

    def __init__(self, model: Model, component: Component, lb: np.ndarray, ub: np.ndarray,
                 time_limit: float) -> None:
        self.variables = component.variables
        self.position = {v: k for k, v in enumerate(self.variables)}
        data, rows_i, cols, lows, highs = [], [], [], [], []
        for n, r in enumerate(component.rows):
            terms, lo, hi, _why = model.rows[r]
            constant = sum(c * lb[i] for i, c in terms.items() if i not in self.position)
            for i, c in terms.items():
                if i in self.position:
                    data.append(c)
                    rows_i.append(n)
                    cols.append(self.position[i])
            lows.append(lo - constant)
            highs.append(hi - constant)
        n_rows, n_cols = len(component.rows), len(self.variables)
        matrix = csr_matrix((data, (rows_i, cols)), shape=(n_rows, n_cols)).tocsc()
        integer = [model.integer[i] for i in self.variables]
        self.time_limit = time_limit
        self.solves = 0
        self.index = np.arange(n_cols, dtype=np.int32)
        h = _highs_module()
        self._h = h
        self.milp, self.lp = (self._build(h, matrix, np.array(lows), np.array(highs), lb[self.variables],
                                          ub[self.variables], integer if mip else None) for mip in (True, False))

    @staticmethod
    def _build(h: Any, matrix: csr_matrix, lows: np.ndarray, highs: np.ndarray, lb: np.ndarray, ub: np.ndarray,
               integer: Sequence[bool] | None) -> Any:
        lp = h.HighsLp()
        lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
        lp.col_cost_ = np.zeros(matrix.shape[1])
        lp.col_lower_, lp.col_upper_ = lb, ub
        lp.row_lower_ = np.where(np.isfinite(lows), lows, -h.kHighsInf)
        lp.row_upper_ = np.where(np.isfinite(highs), highs, h.kHighsInf)
        lp.a_matrix_.format_ = h.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = matrix.shape[1], matrix.shape[0]
        if integer is not None:
            lp.integrality_ = [h.HighsVarType.kInteger if i else h.HighsVarType.kContinuous for i in integer]
        solver = h._Highs() if hasattr(h, "_Highs") else h.Highs()
        solver.setOptionValue("output_flag", False)
        solver.passModel(lp)
        return solver

    def objective(self, terms: Mapping[int, float], sense: float = 1.0) -> np.ndarray:
        vector = np.zeros(len(self.variables))
        for i, c in terms.items():
            if i in self.position:
                vector[self.position[i]] += sense * c
        return vector

    def solve(self, objective: np.ndarray, deadline: float, relaxed: bool = False) -> tuple[str, np.ndarray | None]:
        """Minimise: ('optimal', x), ('infeasible', None) or ('timeout', x or None). ``relaxed``: the LP."""
        remaining = min(self.time_limit, deadline - time.perf_counter())
        if remaining <= 0:
            return "timeout", None
        self.solves += 1
        solver = self.lp if relaxed else self.milp
        solver.setOptionValue("time_limit", float(remaining))
        solver.changeColsCost(len(self.index), self.index, np.asarray(objective, dtype=float))
        solver.run()
        status = solver.getModelStatus()
        x = np.array(solver.getSolution().col_value)
        if status == self._h.HighsModelStatus.kOptimal:
            return "optimal", x if relaxed else np.round(x)
        if status == self._h.HighsModelStatus.kInfeasible:
            return "infeasible", None
        feasible = not relaxed and len(x) == len(self.variables) and \
            solver.getInfo().primal_solution_status == 2
        return "timeout", np.round(x) if feasible else None


# --- from observations to the program --------------------------------------------------------------------


def _runs(publication: Publication) -> dict[dt.date, list[dt.date]]:
    """Per week, the aggregation runs the reader can see: the distinct issue dates of its rows."""
    runs: dict[dt.date, set[dt.date]] = defaultdict(set)
    for row in publication.rows:
        if row.issue is not None:
            runs[row.week].add(row.issue)
    for prow in publication.participation:
        if prow.issue is not None:
            runs[prow.week].add(prow.issue)
    return {week: sorted(dates) for week, dates in runs.items()}


def _states_of(issue: dt.date | None, view: dt.date | None, runs: Sequence[dt.date]) -> list[dt.date]:
    """The runs a row holds for: from its issue up to the view (the newest issue on or before the view is the
    row's, so no run in between changed it). Without an issue, only the newest run on or before the view."""
    upto = [s for s in runs if view is None or s <= view]
    if issue is None:
        return upto[-1:]
    return [s for s in upto if s >= issue]


def _containers(cell: Cell) -> list[Cell]:
    """The published cells that include ``cell`` (itself left out): its geography or the nation, its band or
    'all', its sex or 'all'."""
    geo, band, sex = cell
    return [(g, b, x) for g in {geo, "DK"} for b in {band, "all"} for x in {sex, "all"} if (g, b, x) != cell]


def A(state: dt.date, week: dt.date, method: str, cell: Cell) -> Var:
    """The active count of a published cell (an expression: the sum of its atoms)."""
    return ("A", state, week, method, cell)


def C(state: dt.date, week: dt.date, method: str, definition: Definition, cell: Cell) -> Var:
    """The case count of a published cell (an expression)."""
    return ("C", state, week, method, definition, cell)


UNKNOWN = "?"  # the band or sex of people outside the published ones, when the margins are not exact


def atoms(grid: Grid, exact: bool) -> list[Cell]:
    """The finest cells, which every published cell sums: region x band x sex (plus an unknown band and sex,
    counted only in the margins, when the margins are not exact)."""
    bands = grid.bands if exact else (*grid.bands, UNKNOWN)
    sexes = grid.sexes if exact else (*grid.sexes, UNKNOWN)
    return [(r, b, s) for r in grid.regions for b in bands for s in sexes]


def _inside(atom: Cell, cell: Cell) -> bool:
    geo, band, sex = cell
    return (geo == NATION or atom[0] == geo) and (band == ALL or atom[1] == band) and (sex == ALL or atom[2] == sex)


@dataclass
class Compiled:
    model: Model
    published: set[Var]  # counts read directly from a download
    zeros: set[Var]  # case counts published as 0
    tables: dict[tuple[dt.date, dt.date], dict[str, set[Definition]]]  # (state, week) -> method -> definitions
    changed: list[dict[str, Any]]  # published values that differ between two runs of the same week
    disagreements: list[str]  # two downloads of the same state and cell that differ


def compile_publication(publication: Publication, knowledge: Knowledge) -> Compiled:
    """The integer program of everything published plus the public knowledge.

    Variables are the atoms (finest cells) of every (run, week, method) for active counts and of every
    (run, week, method, definition) for cases; every published cell is the sum of its atoms, which is the
    margins. Cases <= active and the nesting hold per atom (and so for every sum of atoms)."""
    grid = publication.grid
    model = Model()
    runs = _runs(publication)
    tables: dict[tuple[dt.date, dt.date], dict[str, set[Definition]]] = defaultdict(lambda: defaultdict(set))
    observed: dict[Var, set[int]] = defaultdict(set)
    measures: dict[Var, set[Measure]] = defaultdict(set)
    reasons: dict[Var, set[int]] = defaultdict(set)
    by_state: dict[tuple, dict[dt.date, tuple]] = defaultdict(dict)  # (week, method, def, cell) -> state -> values
    for row in publication.rows:
        for state in _states_of(row.issue, row.view, runs.get(row.week, [])):
            tables[(state, row.week)][row.method].add(row.definition)
            a, c = A(state, row.week, row.method, row.cell), C(state, row.week, row.method, row.definition, row.cell)
            if row.active is not None:
                observed[a].add(row.active)
            if row.cases is not None:
                observed[c].add(row.cases)
            if row.missing_reason is not None:
                reasons[c].add(row.missing_reason)
            measures[c].update(row.measures)
            if row.issue is not None:
                by_state[(row.week, row.method, row.definition, row.cell)][state] = (row.active, row.cases)

    finest = atoms(grid, knowledge.margins_exact)
    members = {cell: [atom for atom in finest if _inside(atom, cell)] for cell in grid.cells()}
    for (state, week), methods in tables.items():
        for method, definitions in methods.items():
            for atom in finest:
                for d in definitions:
                    model.at_most(("c", state, week, method, d, atom), ("a", state, week, method, atom),
                                  "cases <= active")
            for cell, inside in members.items():
                model.expression(A(state, week, method, cell), [("a", state, week, method, x) for x in inside])
                for d in definitions:
                    model.expression(C(state, week, method, d, cell), [("c", state, week, method, d, x)
                                                                       for x in inside])
            keyed = {d[0]: d for d in definitions}
            for sub, sup in knowledge.definition_nesting:
                if sub in keyed and sup in keyed:
                    for atom in finest:
                        model.at_most(("c", state, week, method, keyed[sub], atom),
                                      ("c", state, week, method, keyed[sup], atom), f"{sub} within {sup}")
        for sub, sup in knowledge.method_nesting:
            if sub in methods and sup in methods:
                for atom in finest:
                    model.at_most(("a", state, week, sub, atom), ("a", state, week, sup, atom), f"{sub} within {sup}")
                    for d in methods[sub] & methods[sup]:
                        model.at_most(("c", state, week, sub, d, atom), ("c", state, week, sup, d, atom),
                                      f"{sub} within {sup}")

    disagreements = [f"{name}: {sorted(values)}" for name, values in observed.items() if len(values) > 1]
    for name, values in observed.items():
        for value in values:
            model.fix(name, value, "published")
    _derived(model, publication, observed, measures, reasons, knowledge)
    for withdrawal in knowledge.withdrawals:
        _withdrawal(model, grid, finest, tables, runs, withdrawal, knowledge)
    _participation(model, publication, runs)

    changed = []
    for key, states in by_state.items():
        ordered = sorted(states)
        for old, new in zip(ordered, ordered[1:]):
            if states[old] != states[new]:
                week, method, definition, cell = key
                changed.append({"week": week, "method": method, "definition": definition, "cell": cell,
                                "before": (old, *states[old]), "after": (new, *states[new])})
    zeros = {name for name, values in observed.items() if name[0] == "C" and values == {0}}
    return Compiled(model, set(observed), zeros, {k: dict(v) for k, v in tables.items()}, changed, disagreements)


def _candidates(n: int, found: Iterable[Measure]) -> list[int]:
    """The case counts of a cell with ``n`` active that give every published derived value."""
    formulas = {
        "incidence": lambda c: c / n,
        "poisson_lower": lambda c: poisson_interval(c, n)[0], "poisson_upper": lambda c: poisson_interval(c, n)[1],
        "wilson_lower": lambda c: wilson_interval(c, n)[0], "wilson_upper": lambda c: wilson_interval(c, n)[1],
        "stderr": lambda c: standard_error(c, n)}
    usable = [m for m in found if m.name in formulas]
    return [c for c in range(n + 1)
            if all(abs(formulas[m.name](c) - m.value) <= m.tolerance + 1e-12 for m in usable)]


def _derived(model: Model, publication: Publication, observed: Mapping[Var, set[int]],
             measures: Mapping[Var, set[Measure]], reasons: Mapping[Var, set[int]], knowledge: Knowledge) -> None:
    """Derived fields: crude ones per cell, standardised rates per margin, and reason code 6."""
    grid = publication.grid
    for c, found in measures.items():
        _, state, week, method, definition, cell = c
        a = A(state, week, method, cell)
        n = next(iter(observed[a])) if len(observed.get(a, ())) == 1 else None
        crude = [m for m in found if not m.name.startswith("std")]
        if crude and c not in observed:
            if n is not None and n > 0:
                values = _candidates(n, crude)
                if values:
                    model.add({c: 1}, min(values), max(values), "derived values")
                else:
                    model.conflicts.append(f"{c}: no case count gives {crude}")
            else:
                for m in crude:
                    if m.name == "incidence":  # cases - p n within the rounding, linear in both
                        model.add({c: 1, a: -(m.value + m.tolerance)}, -math.inf, 0, "incidence")
                        model.add({c: 1, a: -(m.value - m.tolerance)}, 0, math.inf, "incidence")
        rates = [m for m in found if m.name == "std_rate"]
        if rates and cell[1] == ALL and publication.weights and all(b in publication.weights for b in grid.bands):
            bands = [(cell[0], b, cell[2]) for b in grid.bands]
            ns = [observed.get(A(state, week, method, b), set()) for b in bands]
            if all(len(v) == 1 and next(iter(v)) > 0 for v in ns):
                total = sum(publication.weights[b] for b in grid.bands)
                terms = {C(state, week, method, definition, band): publication.weights[band[1]] / total / next(iter(n))
                         for band, n in zip(bands, ns)}
                for m in rates:
                    model.add(terms, m.value - m.tolerance, m.value + m.tolerance, "standardised rate")
    if knowledge.low_precision_not_small:
        for c, codes in reasons.items():
            if codes == {6} and c not in observed:
                _, state, week, method, _definition, cell = c
                a_values = observed.get(A(state, week, method, cell), set())
                if len(a_values) == 1 and next(iter(a_values)) >= SMALL.stop:
                    n = next(iter(a_values))
                    z = ("z", *c[1:])
                    model.var(z, 0, 1)
                    model.add({c: 1, z: -n}, -math.inf, 0, "reason 6: not small")
                    model.add({c: 1, z: -SMALL.stop}, 0, math.inf, "reason 6: not small")


def _withdrawal(model: Model, grid: Grid, finest: Sequence[Cell],
                tables: Mapping[tuple[dt.date, dt.date], Mapping[str, set[Definition]]],
                runs: Mapping[dt.date, Sequence[dt.date]], withdrawal: Withdrawal, knowledge: Knowledge) -> None:
    """People left between two runs: per atom the old count minus the new one is 0 or 1, the person sits in at
    most one atom per week and method, is a case only where active, and nests like everybody."""
    for week, dates in runs.items():
        before = [s for s in dates if s <= withdrawal.before]
        after = [s for s in dates if withdrawal.before < s <= withdrawal.after]
        if not before or not after:
            continue
        s0, s1 = before[-1], after[-1]
        old, new = tables.get((s0, week), {}), tables.get((s1, week), {})
        methods = old.keys() & new.keys()
        cells = grid.cells()

        def da(method: str, atom: Cell) -> Var:
            return ("dA", s0, s1, week, method, atom)

        def dc(method: str, d: Definition, atom: Cell) -> Var:
            return ("dC", s0, s1, week, method, d, atom)

        for method in methods:
            definitions = old[method] & new[method]
            keyed = {d[0]: d for d in definitions}
            for atom in finest:
                model.var(da(method, atom), 0, 1)
                model.add({da(method, atom): 1, ("a", s0, week, method, atom): -1, ("a", s1, week, method, atom): 1},
                          0, 0, "withdrawal delta")
                for d in definitions:
                    model.var(dc(method, d, atom), 0, 1)
                    model.add({dc(method, d, atom): 1, ("c", s0, week, method, d, atom): -1,
                               ("c", s1, week, method, d, atom): 1}, 0, 0, "withdrawal delta")
                    model.at_most(dc(method, d, atom), da(method, atom), "a case only where active")
                for sub, sup in knowledge.definition_nesting:
                    if sub in keyed and sup in keyed:
                        model.at_most(dc(method, keyed[sub], atom), dc(method, keyed[sup], atom), "delta nesting")
            model.add({da(method, atom): 1 for atom in finest}, 0, withdrawal.persons, "who left")
            for cell in cells:
                inside = [atom for atom in finest if _inside(atom, cell)]
                model.expression(("DA", s0, s1, week, method, cell), [da(method, atom) for atom in inside])
                for d in definitions:
                    model.expression(("DC", s0, s1, week, method, d, cell), [dc(method, d, atom) for atom in inside])
        for sub, sup in knowledge.method_nesting:
            if sub in methods and sup in methods:
                for atom in finest:
                    model.at_most(da(sub, atom), da(sup, atom), "delta nesting")
                    for d in old[sub] & old[sup] & new[sub] & new[sup]:
                        model.at_most(dc(sub, d, atom), dc(sup, d, atom), "delta nesting")


def _participation(model: Model, publication: Publication, runs: Mapping[dt.date, Sequence[dt.date]]) -> None:
    """registered(W) = registered(W-1) + new(W) in one run; nation = sum of regions; active <= registered; the
    participation active count is the w0 active count of (geography, all, all)."""
    grid = publication.grid
    seen: set[tuple[dt.date, dt.date]] = set()
    for prow in publication.participation:
        for state in _states_of(prow.issue, prow.view, runs.get(prow.week, [])):
            seen.add((state, prow.week))
            a = A(state, prow.week, "w0", (prow.geo, ALL, ALL))
            pairs = [(("R", state, prow.week, prow.geo), prow.registered),
                     (("N", state, prow.week, prow.geo), prow.new_profiles)]
            if a in model.expressions:
                pairs.append((a, prow.active))
            for name, value in pairs:
                if name not in model.expressions:
                    model.var(name)
                if value is not None:
                    model.fix(name, value, "published participation")
    for state, week in seen:
        for kind in ("R", "N"):
            terms = {(kind, state, week, NATION): 1.0, **{(kind, state, week, g): -1.0 for g in grid.regions}}
            model.add(terms, 0, 0, "margin")
        for geo in grid.geos:
            model.at_most(("N", state, week, geo), ("R", state, week, geo), "new <= registered")
            if A(state, week, "w0", (geo, ALL, ALL)) in model.expressions:
                model.at_most(A(state, week, "w0", (geo, ALL, ALL)), ("R", state, week, geo), "active <= registered")
            previous = week - dt.timedelta(weeks=1)
            if (state, previous) in seen:
                model.add({("R", state, week, geo): 1, ("R", state, previous, geo): -1, ("N", state, week, geo): -1},
                          0, 0, "registered(W) = registered(W-1) + new(W)")


# --- the truth, for judging ------------------------------------------------------------------------------


@dataclass
class Truth:
    """True counts of one aggregation run: active per (week, method, cell), cases per (week, method,
    definition, cell)."""

    active: dict[tuple[dt.date, str, Cell], int] = field(default_factory=dict)
    cases: dict[tuple[dt.date, str, Definition, Cell], int] = field(default_factory=dict)

    def value(self, name: Var) -> int | None:
        """The true value of a published cell's count (``A``/``C`` names)."""
        if name[0] == "A":
            return self.active.get((name[2], name[3], name[4]))
        if name[0] == "C":
            return self.cases.get((name[2], name[3], name[4], name[5]))
        return None


def truth_from_counts(counts: Mapping[str, Mapping[dt.date, Any]], definitions: Sequence[Any]) -> Truth:
    """``counts[method][week]`` as ``scheduler.incidence.counting.count_weeks`` returns it (a ``WeekCounts``)."""
    truth = Truth()
    for method, weeks in counts.items():
        for week, wc in weeks.items():
            for (_t, geo, band, sex), n in wc.active.items():
                truth.active[(week, method, (geo, band, sex))] = n
            for i, d in enumerate(definitions):
                for (_t, geo, band, sex), c in wc.cases[i].items():
                    truth.cases[(week, method, (d.key, d.version), (geo, band, sex))] = c
    return truth


def verify_claims(truth: Truth, grid: Grid) -> dict[str, bool]:
    """Which pieces of public knowledge hold on the true counts (the attacker uses only those)."""
    claims: dict[str, bool] = {}
    methods = {k[1] for k in truth.active}
    definitions = {k[2] for k in truth.cases}
    weeks = {k[0] for k in truth.active}
    by_key = {d[0]: d for d in definitions}
    for sub, sup in DEFINITION_NESTING:
        if sub in by_key and sup in by_key:
            claims[f"definition {sub} <= {sup}"] = all(
                truth.cases[(w, m, by_key[sub], cell)] <= truth.cases[(w, m, by_key[sup], cell)]
                for w in weeks for m in methods for cell in grid.cells())
    for sub, sup in METHOD_NESTING:
        if sub in methods and sup in methods:
            claims[f"method {sub} <= {sup}"] = all(
                truth.active[(w, sub, cell)] <= truth.active[(w, sup, cell)]
                and all(truth.cases[(w, sub, d, cell)] <= truth.cases[(w, sup, d, cell)] for d in definitions)
                for w in weeks for cell in grid.cells())
    exact = True
    for w in weeks:
        for m in methods:
            for total, parts in grid.relations():
                exact &= truth.active[(w, m, total)] == sum(truth.active[(w, m, p)] for p in parts)
                exact &= all(truth.cases[(w, m, d, total)] == sum(truth.cases[(w, m, d, p)] for p in parts)
                             for d in definitions)
    claims["margins exact"] = exact
    claims["cases <= active"] = all(c <= truth.active[(w, m, cell)] for (w, m, _d, cell), c in truth.cases.items())
    return claims


def knowledge_from_truth(truths: Iterable[Truth], grid: Grid, **extra: Any) -> tuple[Knowledge, dict[str, bool]]:
    """The documented knowledge restricted to the claims that hold on every truth given."""
    verdicts: dict[str, bool] = {}
    for truth in truths:
        for claim, holds in verify_claims(truth, grid).items():
            verdicts[claim] = verdicts.get(claim, True) and holds
    knowledge = Knowledge(
        definition_nesting=tuple(p for p in DEFINITION_NESTING if verdicts.get(f"definition {p[0]} <= {p[1]}")),
        method_nesting=tuple(p for p in METHOD_NESTING if verdicts.get(f"method {p[0]} <= {p[1]}")),
        margins_exact=verdicts.get("margins exact", False), **extra)
    return knowledge, verdicts


# --- the attack and its verdict ---------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str
    var: Var
    truth: int | None
    interval: tuple[float, float]

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{_describe(self.var)}: true {self.truth}, feasible [{lo:g}, {hi:g}]"


def _describe(var: Var) -> str:
    if var[0] in ("DA", "DC"):
        kind, old, new, week, method, *rest = var
        what = "withdrawn person active" if kind == "DA" else f"withdrawn person a case of {rest[0][0]}"
        issues = f"issues {old.isoformat()} -> {new.isoformat()}"
        return f"{week.isoformat()} ({issues}) {method} {what} {'/'.join(rest[-1])}"
    kind, state, week, method, *rest = var
    what = "active" if kind == "A" else f"cases {rest[0][0]}"
    return f"{week.isoformat()} (issue {state.isoformat()}) {method} {what} {'/'.join(rest[-1])}"


CLASSES = {
    "cases_exact": "withheld case counts of 1..4 recovered exactly",
    "cases_narrowed": "withheld case counts of 1..4 narrowed below [1, 4] (not exact)",
    "active_exact": "withheld active counts of 1..4 recovered exactly",
    "active_narrowed": "withheld active counts of 1..4 narrowed below [1, 4] (not exact)",
    "pinned_in_small_cell": "case counts pinned to one value in cells with 1..4 active",
    "other_withheld_exact": "other withheld counts (0 or >= 5) recovered exactly",
    "withdrawn_revealed": "cells (and definitions) of a withdrawn person revealed by revision differencing",
    "wrong": "intervals that exclude the true value (a false assumption)",
    "undecided": "counts the solver did not settle in time",
}


@dataclass
class AttackResult:
    counts: dict[str, int]
    examples: dict[str, list[Finding]]
    sensitive: dict[str, int]  # how many withheld counts of each kind were attacked
    changed: list[dict[str, Any]]
    disagreements: list[str]
    conflicts: list[str]
    seconds: float
    solves: int
    downloads: int = 0
    unread_endpoints: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> int:
        return sum(self.counts[k] for k in ("cases_exact", "cases_narrowed", "active_exact", "active_narrowed",
                                            "pinned_in_small_cell", "withdrawn_revealed"))

    def summary(self, examples: int = 5) -> str:
        lines = [f"attack: {self.seconds:.1f} s, {self.solves} MILP solves, {self.downloads} downloads; attacked "
                 + ", ".join(f"{n} {k}" for k, n in self.sensitive.items())]
        for key, text in CLASSES.items():
            lines.append(f"  {self.counts[key]:6d}  {text}")
            for finding in self.examples[key][:examples]:
                lines.append(f"            {finding}")
        lines.append(f"  {len(self.changed):6d}  published values that changed between runs of a week")
        for change in self.changed[:examples]:
            lines.append(f"            {change['week']} {change['method']} {change['definition'][0]} "
                         f"{'/'.join(change['cell'])}: {change['before']} -> {change['after']}")
        if self.disagreements:
            lines.append(f"  {len(self.disagreements)} disagreements between downloads: {self.disagreements[:3]}")
        if self.conflicts:
            lines.append(f"  {len(self.conflicts)} contradictions (false knowledge?): {self.conflicts[:3]}")
        if self.unread_endpoints:
            lines.append(f"  endpoints not read: {self.unread_endpoints}")
        return "\n".join(lines)


def _truth_for(truths: Mapping[dt.date, Truth], state: dt.date) -> Truth | None:
    dates = [d for d in truths if d <= state]
    return truths[max(dates)] if dates else None


def _true_value(truths: Mapping[dt.date, Truth], name: Var) -> int | None:
    """The truth of a cell's count, or of a withdrawal delta (the old run's count minus the new one's)."""
    if name[0] in ("DA", "DC"):
        old, new = _truth_for(truths, name[1]), _truth_for(truths, name[2])
        if old is None or new is None:
            return None
        cell = ("A" if name[0] == "DA" else "C", None, *name[3:])
        a, b = old.value(cell), new.value(cell)
        return None if a is None or b is None else a - b
    truth = _truth_for(truths, name[1])
    return truth.value(name) if truth else None


def attack(publication: Publication, knowledge: Knowledge, truths: Mapping[dt.date, Truth], *,
           time_limit: float = 60.0, solve_time_limit: float = 10.0, seed: int = 0,
           all_withheld: bool = False, precise: bool = True, stop_after: int | None = None) -> AttackResult:
    """Settle every withheld count the truth makes interesting, and score the result.

    ``truths``: the true counts per run date (a state uses the newest truth on or before its issue). The truth
    only chooses what to solve for; it never constrains. A count of 1..4 is settled as protected by two
    feasible integer points, one at <= 1 and one at >= 4; a count in a cell of 1..4 active by two feasible
    points with different values; otherwise by its exact minimum and maximum (LP first, then MILP).
    ``all_withheld``: also settle whether withheld counts of 0 or >= 5 are recovered exactly (slower).
    ``precise``: tell exact recoveries from narrowed ones even when the LP already proves a leak (else a leak
    that the LP proves is counted as narrowed unless the LP pins it). ``stop_after``: stop once this many leaks
    are proven (a failing test needs examples, not the full count); the rest is then "undecided"."""
    started = time.perf_counter()
    deadline = started + time_limit
    compiled = compile_publication(publication, knowledge)
    model = compiled.model
    counts = dict.fromkeys(CLASSES, 0)
    examples: dict[str, list[Finding]] = {k: [] for k in CLASSES}
    conflicts = list(model.conflicts)
    sensitive = {"cases 1..4": 0, "active 1..4": 0, "cases in 1..4-active cells": 0, "withdrawn person's cells": 0,
                 "other": 0}

    def result(solves: int) -> AttackResult:
        return AttackResult(counts, examples, sensitive, compiled.changed, compiled.disagreements, conflicts,
                            time.perf_counter() - started, solves, publication.downloads,
                            publication.unread_endpoints)

    try:
        lb, ub = propagate(model)
    except Infeasible as exc:
        conflicts.append(str(exc))
        return result(0)

    goals: dict[Var, tuple[str, str]] = {}  # expression -> (class if it leaks, "cover" or "split")
    for name in model.expressions:
        if name[0] in ("DA", "DC"):
            if _true_value(truths, name) == 1:  # the withdrawn person is here (and, for DC, was a case)
                goals[name] = ("withdrawn_revealed", "split")
                sensitive["withdrawn person's cells"] += 1
            continue
        if name[0] not in ("A", "C"):
            continue
        truth = _truth_for(truths, name[1])
        value = truth.value(name) if truth else None
        if value is None:
            continue
        withheld = name not in compiled.published
        # A case count inside a published cell of 0 cases is 0 for everyone: that zero is a statement about the
        # whole published group (100 or more active, or its cases would be withheld), which statistics offices
        # publish, not an attribute of the few people in the small cell (docs/methods.md, "Disclosure control").
        small_cell = (name[0] == "C" and truth.active.get((name[2], name[3], name[5])) in SMALL
                      and not any(C(name[1], name[2], name[3], name[4], container) in compiled.zeros
                                  for container in _containers(name[5])))
        if withheld and value in SMALL:
            kind = "cases" if name[0] == "C" else "active"
            goals[name] = (kind, "cover")
            sensitive[f"{kind} 1..4"] += 1
        elif small_cell:
            goals[name] = ("pinned_in_small_cell", "split")
            sensitive["cases in 1..4-active cells"] += 1
        elif withheld and all_withheld:
            goals[name] = ("other_withheld_exact", "split")
            sensitive["other"] += 1

    names = list(goals)
    where = {name: k for k, name in enumerate(names)}
    wmin, wmax = np.full(len(names), np.inf), np.full(len(names), -np.inf)  # values seen in feasible points
    lo_of, hi_of = np.full(len(names), -np.inf), np.full(len(names), np.inf)  # proven bounds
    free = ub - lb > 0.5
    for k, name in enumerate(names):
        terms = model.expressions[name]
        lo_of[k] = sum(c * (lb[i] if c > 0 else ub[i]) for i, c in terms.items())
        hi_of[k] = sum(c * (ub[i] if c > 0 else lb[i]) for i, c in terms.items())
        if lo_of[k] == hi_of[k]:
            wmin[k] = wmax[k] = lo_of[k]

    def settled(k: int) -> bool:
        """Whether the class of target k is known: protected, exact, or narrowed but not exact."""
        if lo_of[k] == hi_of[k] or wmin[k] < wmax[k] and goals[names[k]][1] == "split":
            return True
        if goals[names[k]][1] == "cover":
            narrowed = lo_of[k] > 1 or hi_of[k] < 4
            return (wmin[k] <= 1 and wmax[k] >= 4) or (narrowed and (wmin[k] < wmax[k] or not precise))
        return False

    def leaks() -> int:
        cover = np.array([goals[n][1] == "cover" for n in names], bool)
        return int(((lo_of == hi_of) | (cover & ((lo_of > 1) | (hi_of < 4)))).sum())

    solves = 0
    rng = random.Random(seed)
    open_names = [n for n in names if not settled(where[n])]
    parts = sorted(components(model, lb, ub, open_names), key=lambda c: len(c.variables))
    by_component: dict[int, list[int]] = defaultdict(list)
    component_of = {}
    for number, component in enumerate(parts):
        for i in component.variables:
            component_of[i] = number
    for name in open_names:
        first = next(i for i in model.expressions[name] if free[i])
        by_component[component_of[first]].append(where[name])

    for number, component in enumerate(parts):
        targets = by_component.get(number)
        if not targets:
            continue
        solver = ComponentSolver(model, component, lb, ub, solve_time_limit)
        rows = [solver.objective(model.expressions[names[k]]) for k in targets]
        matrix = np.array(rows)
        constant = np.array([sum(c * lb[i] for i, c in model.expressions[names[k]].items() if not free[i])
                             for k in targets])

        def witness(x: np.ndarray) -> None:
            values = matrix @ x + constant
            idx = np.array(targets)
            wmin[idx] = np.minimum(wmin[idx], values)
            wmax[idx] = np.maximum(wmax[idx], values)

        status, x = solver.solve(np.zeros(len(component.variables)), deadline)
        if status == "infeasible":
            conflicts.append(f"a component of {len(component.variables)} variables has no integer solution")
            solves += solver.solves
            continue
        if x is not None:
            witness(x)
        def bulk(rounds: int) -> None:
            """Many at once: push every unsettled count down (or up) together; each solution is a witness."""
            stale = 0
            for round_ in range(rounds):
                open_ = [j for j, k in enumerate(targets) if not settled(k)]
                if not open_ or stale >= 2 or time.perf_counter() > deadline:
                    return
                objective = np.zeros(len(component.variables))
                for j in open_:
                    k = targets[j]
                    if goals[names[k]][1] == "cover":
                        down = wmin[k] > 1 and (round_ % 2 == 0 or wmax[k] >= 4)
                    else:
                        down = rng.random() < 0.5
                    objective += matrix[j] if down else -matrix[j]
                _status, x = solver.solve(objective, deadline)
                if x is not None:
                    witness(x)
                stale = stale + 1 if sum(not settled(k) for k in targets) == len(open_) else 0

        bulk(12)
        # The LP relaxation bounds each open count (warm-started, cheap): it proves most leaks.
        for j, k in enumerate(targets):
            for sense in (1.0, -1.0):
                if settled(k) or (goals[names[k]][1] == "cover" and (wmin[k] <= 1 if sense > 0 else wmax[k] >= 4)):
                    continue
                status, x = solver.solve(sense * matrix[j], deadline, relaxed=True)
                if status == "optimal":
                    bound = matrix[j] @ x + constant[j]
                    if sense > 0:
                        lo_of[k] = max(lo_of[k], math.ceil(bound - 1e-6))
                    else:
                        hi_of[k] = min(hi_of[k], math.floor(bound + 1e-6))
        bulk(6)
        # The rest one at a time: the MILP's exact minimum and maximum (each solution a witness for all).
        for j, k in enumerate(targets):
            if stop_after is not None and leaks() >= stop_after:
                break
            for sense in (1.0, -1.0):
                if settled(k):
                    break
                status, x = solver.solve(sense * matrix[j], deadline)
                if status == "optimal":
                    witness(x)
                    value = matrix[j] @ x + constant[j]
                    if sense > 0:
                        lo_of[k] = value
                    else:
                        hi_of[k] = value
        solves += solver.solves
        if stop_after is not None and leaks() >= stop_after:
            break
        solves += solver.solves

    for k, name in enumerate(names):
        kind, goal = goals[name]
        truth = _true_value(truths, name)
        interval = (max(lo_of[k], -INFINITY), min(hi_of[k], INFINITY))
        finding = Finding(kind, name, truth, interval)
        if not lo_of[k] <= truth <= hi_of[k]:
            counts["wrong"] += 1
            examples["wrong"].append(finding)
        elif not settled(k):
            counts["undecided"] += 1
            examples["undecided"].append(Finding(kind, name, truth, (wmin[k], wmax[k])))
        elif goal == "cover" and lo_of[k] == hi_of[k]:
            counts[f"{kind}_exact"] += 1
            examples[f"{kind}_exact"].append(finding)
        elif goal == "cover" and (lo_of[k] > 1 or hi_of[k] < 4):
            counts[f"{kind}_narrowed"] += 1
            examples[f"{kind}_narrowed"].append(finding)
        elif goal == "split" and lo_of[k] == hi_of[k]:
            counts[kind] += 1
            examples[kind].append(finding)
    return result(solves)
