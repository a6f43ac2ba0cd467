"""Weekly aggregation, run by the database: active participants and cases by geography, age band, sex and
case definition, for one participation method and any number of ISO weeks in ONE statement.

For weeks W1..Wn and a ``Method`` (scheduler.methods; ifnBase docs/incidence-computation.md) the statement
(``count_statement``) has these parts, each switched on by the method's parameters:

- ``target``: the weeks, with the window and season bounds each needs (a tiny derived table);
- ``active``: one row per (participant, W): reports of W (or of W-k .. W+k, the nearest one giving the stratum),
  optionally without the first report of the season, filtered by the season count and the weeks reported;
- ``onsets``: per (participant, onset week), one ``MAX(CASE WHEN <definition> THEN 1 ELSE 0 END)`` column per
  definition over the reports of W .. W + lookahead whose onset week (from the method's onset sources) is W and
  that start a new episode, so a person counts at most once per week and definition;
- the finest cells (week x region x age band x sex), and the margins (all ages, all sexes, the nation) as a
  ``UNION ALL`` of the eight grouping levels over them (SQLite and PostgreSQL alike, no ``ROLLUP``).

Cases are counted in the stratum of the participant's active report, so cases <= active in every cell.
Python then fills the empty cells of the grid, applies disclosure control, intervals, age standardisation,
display censoring and the open-data flag (on about a hundred counts per week and definition), and writes the
estimates and the participation estimates with revisions (scheduler.estimates), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (BigInteger, Connection, Date, Engine, Integer, SmallInteger, String, and_, case, exists, func,
                        literal, literal_column, null, or_, select, true, tuple_, union_all)
from sqlalchemy.dialects.postgresql import array as postgresql_array
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reporting.aggregates_version import bump_aggregates_version
from reporting.models import (MISSING_NONE, MISSING_PRIVACY, SEXES, AgeBand, IncidenceEstimate, Municipality,
                              Profile, Region, SeasonMaximum, StandardPopulation, WeeklyReport)
from reporting.reports import season_ordinal
from reporting.weeks import season_bounds, season_of

from . import caseflags
from .definitions import CompiledDefinition
from .disclosure import (DisclosurePolicy, PublishedValues, TableDisclosure, disclose_table, protect, public_rows,
                         published, table_relations)
from .estimates import CellKey, WriteSummary, write_estimates, write_participation
from .methods import Method, check, get_method
from .protection import InfeasibleAudit, Key, WeekTables, protect_week, published_cell
from .retention import first_recomputable_week, purged_before
from .sqlfunctions import date_diff_days, days_between, monday_of, season_start
from .statistics import standardised_rate

NATION = "DK"
ALL = "all"


@dataclass(frozen=True)
class Band:
    label: str
    min_age: int
    max_age: int


@dataclass(frozen=True)
class Strata:
    """The full grid of one week: geographies x age bands x sexes (margins included)."""

    regions: tuple[int, ...]
    bands: tuple[Band, ...]
    sexes: tuple[str, ...] = SEXES

    def geographies(self) -> list[tuple[str, str]]:
        return [("nation", NATION)] + [("region", str(code)) for code in self.regions]

    def band_labels(self) -> list[str]:
        return [band.label for band in self.bands] + [ALL]

    def sex_labels(self) -> list[str]:
        return list(self.sexes) + [ALL]


def load_strata(connection: Connection, scheme: str) -> Strata:
    regions = tuple(connection.scalars(select(Region.code).order_by(Region.code)))
    bands = tuple(Band(label, lo, hi) for label, lo, hi in connection.execute(
        select(AgeBand.label, AgeBand.min_age, AgeBand.max_age).where(AgeBand.scheme == scheme)
        .order_by(AgeBand.position)))
    if not bands:
        raise ValueError(f"no age bands for scheme {scheme!r} (COVIDMETER_AGE_BAND_SCHEME)")
    return Strata(regions, bands)


@dataclass(frozen=True)
class CellCount:
    geo_type: str
    geo_code: str
    age_band: str
    sex: str
    definition_key: str
    definition_version: int
    active: int
    cases: int


class _Rules:
    """The method's per-report rules as SQL over an alias of ``weekly_reports`` (shared by both statements)."""

    def __init__(self, method: Method, bands: Sequence[Band], bits: Mapping[tuple[str, int], int],
                 week_flags_rule: Mapping[str, Any] | None = None, ordinals: bool = False) -> None:
        self.method, self.bands, self.bits = method, bands, bits
        self.week_flags_rule = week_flags_rule
        self.ordinals = ordinals  # reports carry their season ordinal (reporting.reports.season_ordinal)
        self.reports = WeeklyReport.__table__

    @staticmethod
    def ordinal(t: Any) -> Any:
        """The row's season ordinal: 1 for the participant's first report of its season, 2 ..."""
        return literal_column(f"{t.name}.{season_ordinal.COLUMN}", SmallInteger)

    def reports_in_season_at_least(self, t: Any, m: int, ordinal: Any, start: Any, end: Any) -> Any:
        """With season ordinals: the participant of row ``t`` has at least ``m`` reports in the season
        ``start`` .. ``end`` (dates), given ``ordinal``, the ordinal of a report of theirs that is known to be in
        that season, or NULL. The ordinals of a season run 1, 2, ..., so a report numbered m or more answers;
        the participant's other reports of the season are looked at only when the known one does not (a new
        participant, or a report in a neighbouring season)."""
        s = self.reports.alias("s")
        later = exists().where(s.c.profile_id == t.c.profile_id, s.c.week.between(start, end),
                               self.ordinal(s) >= m)
        return case((ordinal >= m, true()), else_=later)

    def flagged(self, d: CompiledDefinition) -> bool:
        return (d.key, d.version) in self.bits

    def counts_week_flags(self, definitions: Sequence[CompiledDefinition]) -> bool:
        """The stored week flags answer this method for these definitions (scheduler.caseflags): every
        definition has its bit, the flags were built for the method's onset look-ahead and same-episode rule
        from the stored onset, and the method filters no participants (no window, no season rule)."""
        method, rule = self.method, self.week_flags_rule
        return (rule is not None and bool(definitions) and all(self.flagged(d) for d in definitions)
                and method.window_weeks == 0 and method.uses_stored_onset and not method.ignore_first_report
                and method.min_reports_in_season == 1 and method.min_weeks_reported == 1
                and method.onset_lookahead_weeks == rule["onset_lookahead_weeks"]
                and method.same_episode_days == rule["same_episode_days"])

    def week_flag(self, d: CompiledDefinition, t: Any) -> Any:
        """Definition ``d`` has a case in the row's week by its stored week flags."""
        return (literal_column(f"{t.name}.{caseflags.WEEK_COLUMN}", BigInteger)
                .op("&")(literal_column(str(1 << self.bits[(d.key, d.version)]))) != 0)

    def some_flag(self, t: Any, definitions: Sequence[CompiledDefinition]) -> list[Any]:
        """When every definition is flagged: the report satisfies at least one (most reports satisfy none)."""
        if not definitions or not all(self.flagged(d) for d in definitions):
            return []
        return [literal_column(f"{t.name}.{caseflags.COLUMN}", BigInteger) != literal_column("0")]

    def holds(self, d: CompiledDefinition, t: Any) -> Any:
        """Definition ``d`` holds for the report row: its bit of the stored case flags when there is one built
        from exactly this rule (scheduler.caseflags), else the rule itself."""
        bit = self.bits.get((d.key, d.version))
        if bit is None:
            return d.sql(t)
        return literal_column(f"{t.name}.{caseflags.COLUMN}", BigInteger).op("&")(literal_column(str(1 << bit))) != 0

    def band(self, r: Any) -> Any:
        return case(*[(r.c.age_years.between(b.min_age, b.max_age), literal(b.label, String)) for b in self.bands],
                    else_=null())

    def eligible(self, r: Any) -> list[Any]:
        """Conditions on a report row that may count at all (ignore-first-report: an earlier report of the
        same season exists)."""
        if not self.method.ignore_first_report:
            return []
        if self.ordinals:
            return [self.ordinal(r) > 1]
        earlier = self.reports.alias("earlier")
        # "Not the first report of its season": a correlated MIN that one probe of the (profile_id, week) index
        # answers per row.
        first = (select(func.min(earlier.c.week))
                 .where(earlier.c.profile_id == r.c.profile_id, earlier.c.week >= season_start(r.c.week))
                 .scalar_subquery())
        return [r.c.week > first]

    def onset(self, t: Any) -> Any:
        """The onset week of a report row under the method's onset rule."""
        if self.method.uses_stored_onset:
            return t.c.onset_week
        dated = [(t.c[source].is_not(None), monday_of(t.c[source]))
                 for source in self.method.onset_sources if source != "report"]
        return case(*dated, else_=t.c.week) if dated else t.c.week

    def continues_episode(self, t: Any) -> Any:
        """The report answered "same illness" within ``same_episode_days`` of the profile's previous report
        (None when the method has no same-episode rule). Every operand is a definite boolean (never NULL), so
        NOT keeps reports that did not answer; the cheap tests come first, so the look-up of the previous
        report runs only for reports that answered "same illness"."""
        if self.method.same_episode_days is None:
            return None
        previous = self.reports.alias("previous")
        previous_submitted = (select(previous.c.submitted_at)
                              .where(previous.c.profile_id == t.c.profile_id, previous.c.week < t.c.week)
                              .order_by(previous.c.week.desc()).limit(1).scalar_subquery())
        return and_(t.c.same_illness.is_not(None), t.c.same_illness == "yes", previous_submitted.is_not(None),
                    days_between(t.c.submitted_at, previous_submitted) <= self.method.same_episode_days)

    def new_episode(self, t: Any) -> list[Any]:
        """Conditions for a report that starts a new episode (the same-episode rule)."""
        same = self.continues_episode(t)
        return [] if same is None else [~same]


def count_statement(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition], method: Method,
                    bands: Sequence[Band], bits: Mapping[tuple[str, int], int] | None = None,
                    week_flags_rule: Mapping[str, Any] | None = None, season_ordinals: bool = False) -> Any:
    """The one SELECT that counts active participants and cases of the given weeks for every cell and
    definition (no definitions: active participants only). Rows: week, geo_type, region_code, age_band, sex,
    active, case_0 .. case_n. ``bits``: the stored case flags to read instead of evaluating rules
    (scheduler.caseflags.usable_bits); ``week_flags_rule``: the rule of the stored week flags, when the
    database has them (scheduler.caseflags.week_flags_rule); ``season_ordinals``: the reports carry their
    season ordinal (reporting.reports.season_ordinal.present)."""
    weeks = sorted(set(weeks))
    if not weeks:
        raise ValueError("no weeks to aggregate")
    rules = _Rules(method, bands, bits or {}, week_flags_rule, season_ordinals)
    if rules.counts_week_flags(definitions):
        finest = _finest_from_week_flags(weeks, definitions, rules)
    elif method.window_weeks == 0:
        finest = _finest_without_window(weeks, definitions, rules)
    else:
        finest = _finest_with_window(weeks, definitions, rules)
    return _with_margins(finest, len(definitions))


def _in_weeks(column: Any, weeks: Sequence[dt.date]) -> Any:
    """``column`` is one of the (sorted) Mondays: a range test when they are consecutive (one comparison per
    row instead of up to 53)."""
    if weeks == weeks_between(weeks[0], weeks[-1]):
        return column.between(weeks[0], weeks[-1])
    return column.in_(weeks)


def _finest_without_window(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition],
                           rules: _Rules) -> Any:
    """Counts of the finest cells when active in W means a report of W (w0, w0_3w, w0_if).

    Two parts, added cell by cell:

    - ``simple``: one pass over the reports of the weeks, grouped by cell: every (eligible) report is one
      active participant, and a case of definition i when its own onset is in its week, the definition holds
      and it did not answer "same illness" (so it certainly starts a new episode; without a same-episode rule
      every such report does). No join: for w0 the plan is a (parallel) scan and a hash aggregate, like a
      hand-written GROUP BY; the season filters of w0_3w and w0_if add window functions over the seasons'
      reports (many weeks) or index look-ups per report (a few weeks).
    - ``extra``: the cases the simple rule cannot see, found among the few reports that may carry them:
      reports of W that answered "same illness" but start a new episode all the same (the previous report is
      missing or older than the method's episode gap), and reports of W+1 .. W+L whose onset is in W (a cough
      that began on Sunday, reported on Monday). Per (participant, W) one 0/1 flag per definition; a flag
      adds a case to the cell of the participant's report of W (who must be active in W) unless ``simple``
      counted it already. This part's cost grows with the number of such reports, not with the panel.
    """
    method, reports = rules.method, rules.reports
    columns = [f"case_{i}" for i in range(len(definitions))]

    def participation(r: Any) -> list[Any]:
        """Conditions for the report of W to make its participant active in W (beyond being eligible)."""
        s = reports.alias("s")
        conditions = []
        if rules.ordinals:  # the report's own ordinal answers, the count up to W always
            if method.min_reports_in_season > 1:
                conditions.append(rules.reports_in_season_at_least(
                    r, method.min_reports_in_season, rules.ordinal(r), season_start(r.c.week),
                    func.covidmeter_season_end(r.c.week) - literal_column("1")))
            if method.min_weeks_reported > 1:
                conditions.append(rules.ordinal(r) >= method.min_weeks_reported)
            return conditions
        if method.min_reports_in_season > 1:
            conditions.append(select(func.count()).where(
                s.c.profile_id == r.c.profile_id, s.c.week >= season_start(r.c.week),
                season_start(s.c.week) == season_start(r.c.week)).scalar_subquery() >= method.min_reports_in_season)
        if method.min_weeks_reported > 1:
            conditions.append(select(func.count()).where(
                s.c.profile_id == r.c.profile_id, s.c.week.between(season_start(r.c.week), r.c.week)
            ).scalar_subquery() >= method.min_weeks_reported)
        return conditions

    def own_onset(r: Any) -> list[Any]:
        """The report's onset is in its own week and it certainly starts an episode (did not answer "same
        illness"; without a same-episode rule every such report does)."""
        own = [rules.onset(r) == r.c.week]
        if method.same_episode_days is not None:
            own.append(r.c.same_illness.is_distinct_from("yes"))
        return own

    def simple_case(r: Any, d: CompiledDefinition) -> Any:
        # The cheapest test first: a stored flag (0 on most reports) before the onset, the onset before a rule.
        return and_(rules.holds(d, r), *own_onset(r)) if rules.flagged(d) else and_(*own_onset(r), rules.holds(d, r))

    def by_cell(rows: Any, active: Any) -> Any:
        """Group a derived table of (w, region_code, age_band, sex, case_0..) rows by cell (the age band is a
        column here, so PostgreSQL sees the same grouping expression in SELECT and GROUP BY)."""
        return (select(rows.c.w, rows.c.region_code, rows.c.age_band, rows.c.sex, active.label("active"),
                       *[func.sum(rows.c[name]).label(name) for name in columns])
                .group_by(rows.c.w, rows.c.region_code, rows.c.age_band, rows.c.sex))

    filtered = method.ignore_first_report or method.min_reports_in_season > 1 or method.min_weeks_reported > 1
    if filtered and len(weeks) >= SEASON_WINDOW_FROM_WEEKS and not rules.ordinals:
        # Many weeks: each report's rank and count within its participant's season in one sorted pass over the
        # seasons' reports (window functions), instead of index look-ups for every report of every week.
        r0 = reports.alias("r0")
        season = season_start(r0.c.week)
        flags = [literal_column(f"r0.{caseflags.COLUMN}", BigInteger).label(caseflags.COLUMN)] if rules.bits else []
        r = (select(r0, *flags,
                    func.row_number().over(partition_by=(r0.c.profile_id, season), order_by=r0.c.week).label("nth"),
                    func.count().over(partition_by=(r0.c.profile_id, season)).label("in_season"))
             .where(r0.c.week.between(season_bounds(weeks[0])[0], season_bounds(weeks[-1])[1])).subquery("r"))
        # nth = the weeks reported in the season up to and including this one (one report per week).
        conditions = [_in_weeks(r.c.week, weeks)]
        if method.ignore_first_report:
            conditions.append(r.c.nth > 1)
        if method.min_weeks_reported > 1:
            conditions.append(r.c.nth >= method.min_weeks_reported)
        if method.min_reports_in_season > 1:
            conditions.append(r.c.in_season >= method.min_reports_in_season)
    else:
        r = reports.alias("r")
        conditions = [_in_weeks(r.c.week, weeks), *rules.eligible(r), *participation(r)]
    simple_rows = (select(r.c.week.label("w"), r.c.region_code, rules.band(r).label("age_band"), r.c.sex,
                          *[case((simple_case(r, d), 1), else_=0).label(name) for d, name in zip(definitions, columns)])
                   .where(*conditions).subquery("simple_rows"))
    simple = by_cell(simple_rows, func.count())
    if not definitions:
        return simple.cte("finest")

    # The reports that may carry a case the simple rule missed, each with the participant's report of W (who
    # must be active in W: the same conditions as ``simple``; its stratum is the cell). Per candidate, one 0/1
    # column per definition for "carries a case in W" (c_i) and one for "the simple rule counted this
    # participant in W already" (s_i).
    lookahead = method.onset_lookahead_weeks
    same_episode_days = method.same_episode_days

    def candidate(a: Any, carries: Any) -> Any:
        """A candidate row: the participant's report of W ``a`` (the cell) and the 0/1 columns."""
        return select(a.c.profile_id, a.c.week.label("w"), a.c.region_code, rules.band(a).label("age_band"), a.c.sex,
                      *[case((carries(d), 1), else_=0).label(f"c_{i}") for i, d in enumerate(definitions)],
                      *[case((simple_case(a, d), 1), else_=0).label(f"s_{i}") for i, d in enumerate(definitions)])

    candidates = []
    if same_episode_days is not None:
        # Reports of W that answered "same illness" about an illness that began in W: a new episode all the same
        # when the previous report is missing or older than the episode gap. Their own report is the one of W.
        o = reports.alias("o")
        candidates.append(candidate(o, lambda d: and_(rules.holds(d, o), *rules.new_episode(o)))
                          # Literals and this order (not bound parameters) let both engines match the partial
                          # index of migration 0005.
                          .where(o.c.same_illness == literal_column("'yes'"), rules.onset(o) == o.c.week,
                                 _in_weeks(o.c.week, weeks), *rules.eligible(o), *participation(o)))
    if lookahead > 0:
        # Reports of W+1 .. W+L whose onset is in W, joined with the report of W.
        late, a = reports.alias("late"), reports.alias("a")
        onset = rules.onset(late)
        if lookahead == 1 and same_episode_days is not None:
            # The previous report of a report of W+1 is the report of W: the join has it already.
            def carries(d: CompiledDefinition) -> Any:
                same = and_(late.c.same_illness.is_not(None), late.c.same_illness == "yes",
                            days_between(late.c.submitted_at, a.c.submitted_at) <= same_episode_days)
                return and_(rules.holds(d, late), ~same)
        else:
            def carries(d: CompiledDefinition) -> Any:
                return and_(rules.holds(d, late), *rules.new_episode(late))
        # ``onset < week`` first: on the stored onset it is the predicate of a small partial index.
        candidates.append(
            candidate(a, carries)
            .select_from(late.join(a, and_(a.c.profile_id == late.c.profile_id, a.c.week == onset)))
            .where(onset < late.c.week, _in_weeks(onset, weeks),
                   late.c.week.between(weeks[0] + dt.timedelta(weeks=1), weeks[-1] + dt.timedelta(weeks=lookahead)),
                   date_diff_days(late.c.week, onset) <= 7 * lookahead, *rules.some_flag(late, definitions),
                   *rules.eligible(late), *rules.eligible(a), *participation(a)))
    if not candidates:
        return simple.cte("finest")
    found = union_all(*candidates).subquery("found")
    # One row per (participant, W): a case the simple rule did not count.
    key = [found.c.profile_id, found.c.w, found.c.region_code, found.c.age_band, found.c.sex]
    per_person = (select(*key[1:], *[
        case((and_(func.max(found.c[f"c_{i}"]) == 1, func.max(found.c[f"s_{i}"]) == 0), 1), else_=0).label(name)
        for i, name in enumerate(columns)]).group_by(*key).subquery("extra_rows"))
    extra = by_cell(per_person, literal(0, Integer))
    both = union_all(simple, extra).subquery("both")
    return (select(both.c.w, both.c.region_code, both.c.age_band, both.c.sex, func.sum(both.c.active).label("active"),
                   *[func.sum(both.c[name]).label(name) for name in columns])
            .group_by(both.c.w, both.c.region_code, both.c.age_band, both.c.sex).cte("finest"))


def _finest_from_week_flags(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition],
                            rules: _Rules) -> Any:
    """Counts of the finest cells from the stored week flags (w0 on PostgreSQL; scheduler.caseflags).

    Every report of W is one active participant, and a case of definition i when bit i of its week flags is
    set: its own onset in W starting an episode, or a late onset in W reported in W+1. So the count is one
    grouped pass over the index ``(week, region_code, age_years, sex, week_flags)``: an index-only scan that
    reads the rows in grouping order, one count per (cell, age, flag pattern), then summed per age band and
    definition over those few rows. The only cases the flags cannot hold are reports of W that answered "same
    illness" about an illness that began in W but whose previous report is missing or older than the episode
    gap (they need that report): the few such reports are looked at as ``_finest_without_window`` does, and
    add a case unless the flags counted one already."""
    reports = rules.reports
    columns = [f"case_{i}" for i in range(len(definitions))]
    r = reports.alias("r")
    flags = literal_column(f"r.{caseflags.WEEK_COLUMN}", BigInteger)
    patterns = (select(r.c.week.label("w"), r.c.region_code, r.c.age_years, r.c.sex, flags.label("flags"),
                       func.count().label("n"))
                .where(_in_weeks(r.c.week, weeks))
                .group_by(r.c.week, r.c.region_code, r.c.age_years, r.c.sex, flags).subquery("patterns"))
    banded = select(patterns.c.w, patterns.c.region_code, rules.band(patterns).label("age_band"), patterns.c.sex,
                    patterns.c.flags, patterns.c.n).subquery("banded")
    bit = {name: literal_column(str(1 << rules.bits[(d.key, d.version)])) for d, name in zip(definitions, columns)}
    simple = (select(banded.c.w, banded.c.region_code, banded.c.age_band, banded.c.sex,
                     func.sum(banded.c.n).label("active"),
                     *[func.coalesce(func.sum(banded.c.n).filter(banded.c.flags.op("&")(bit[name]) != 0), 0)
                       .label(name) for name in columns])
              .group_by(banded.c.w, banded.c.region_code, banded.c.age_band, banded.c.sex))
    o = reports.alias("o")
    found = (select(o.c.profile_id, o.c.week.label("w"), o.c.region_code, rules.band(o).label("age_band"), o.c.sex,
                    *[case((and_(rules.holds(d, o), ~rules.week_flag(d, o)), 1), else_=0).label(name)
                      for d, name in zip(definitions, columns)])
             # Literals and this order (not bound parameters) let PostgreSQL match the partial index of 0005.
             .where(o.c.same_illness == literal_column("'yes'"), o.c.onset_week == o.c.week,
                    _in_weeks(o.c.week, weeks), *rules.new_episode(o)).subquery("found"))
    extra = (select(found.c.w, found.c.region_code, found.c.age_band, found.c.sex, literal(0, Integer).label("active"),
                    *[func.sum(found.c[name]).label(name) for name in columns])
             .group_by(found.c.w, found.c.region_code, found.c.age_band, found.c.sex))
    both = union_all(simple, extra).subquery("both")
    return (select(both.c.w, both.c.region_code, both.c.age_band, both.c.sex, func.sum(both.c.active).label("active"),
                   *[func.sum(both.c[name]).label(name) for name in columns])
            .group_by(both.c.w, both.c.region_code, both.c.age_band, both.c.sex).cte("finest"))


def _finest_with_window(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition], rules: _Rules) -> Any:
    """Counts of the finest cells when active in W means a report in W-k .. W+k (k > 0, w1_s2_if2_ex): one row
    per (participant, W) with the stratum of the nearest report, joined with the participant's onsets in W.

    The nearest report is found from each eligible report's neighbours, the participant's previous and next
    eligible reports (``lag``/``lead`` in one pass ordered by week), not by ranking every report against
    every week it could stand for. An eligible report r is the nearest for W = r + d weeks (|d| <= k) when no
    other report of the participant is nearer to W, the earlier one winning a tie:

    - d = 0: always (a report of W itself);
    - d > 0 (W after r): the next report is at least 2d weeks after r (at exactly 2d it ties, and r is earlier);
    - d < 0 (W before r): the previous report is more than 2|d| weeks before r (at exactly 2|d| it ties, and it
      is earlier).

    Any report nearer to a target week than k lies within k weeks of it, so the neighbours within the span
    of the target weeks +- k are the ones that matter. The pairs (d, W) come from a tiny table of the target
    weeks and offsets, joined on the report's week (an equality: a hash join). That is the shape on PostgreSQL
    with season ordinals (``_nearest_by_neighbours``); SQLite ranks the (2k+1) pairs of each report instead
    (``_nearest_by_ranking``), which its planner handles well at the demo's size. The property-based tests hold
    both to the Python reference."""
    method, reports = rules.method, rules.reports
    lookahead = method.onset_lookahead_weeks
    columns = [f"case_{i}" for i in range(len(definitions))]

    if rules.ordinals:
        candidates = _nearest_by_neighbours(weeks, rules)
        conditions = []
    else:
        candidates = _nearest_by_ranking(weeks, rules)
        conditions = [candidates.c["rank"] == 1]
    s = reports.alias("s")
    if method.min_reports_in_season > 1 and rules.ordinals:
        conditions.append(rules.reports_in_season_at_least(
            candidates, method.min_reports_in_season, candidates.c.ordinal, candidates.c.season_start,
            candidates.c.season_end))
    elif method.min_reports_in_season > 1:
        conditions.append(select(func.count()).where(
            s.c.profile_id == candidates.c.profile_id,
            s.c.week.between(candidates.c.season_start, candidates.c.season_end)).scalar_subquery()
            >= method.min_reports_in_season)
    if method.min_weeks_reported > 1:
        conditions.append(select(func.count()).where(
            s.c.profile_id == candidates.c.profile_id,
            s.c.week.between(candidates.c.season_start, candidates.c.w)).scalar_subquery()
            >= method.min_weeks_reported)
    active = (select(candidates.c.profile_id, candidates.c.w, candidates.c.region_code,
                     candidates.c.age_band, candidates.c.sex).where(*conditions).cte("active"))

    # Reports carrying an onset in W: one row per (participant, W) with one 0/1 column per definition.
    if definitions:
        o = reports.alias("o")
        onset = rules.onset(o)
        onsets = (select(o.c.profile_id, onset.label("w"),
                         *[func.max(case((rules.holds(d, o), 1), else_=0)).label(name)
                           for d, name in zip(definitions, columns)])
                  .where(onset.in_(weeks), o.c.week.between(weeks[0], weeks[-1] + dt.timedelta(weeks=lookahead)),
                         date_diff_days(o.c.week, onset) <= 7 * lookahead, *rules.some_flag(o, definitions),
                         *rules.eligible(o), *rules.new_episode(o))
                  .group_by(o.c.profile_id, onset).cte("onsets"))
        person = (select(active.c.w, active.c.region_code, active.c.age_band, active.c.sex,
                         *[func.coalesce(onsets.c[name], 0).label(name) for name in columns])
                  .select_from(active.outerjoin(onsets, and_(onsets.c.profile_id == active.c.profile_id,
                                                             onsets.c.w == active.c.w)))
                  .cte("person"))
    else:
        person = active
    return (select(person.c.w, person.c.region_code, person.c.age_band, person.c.sex,
                   func.count().label("active"), *[func.sum(person.c[name]).label(name) for name in columns])
            .group_by(person.c.w, person.c.region_code, person.c.age_band, person.c.sex).cte("finest"))


def _nearest_by_neighbours(weeks: Sequence[dt.date], rules: _Rules) -> Any:
    """One row per (participant, W) from the eligible reports and their neighbours (see
    ``_finest_with_window``): the shape for PostgreSQL with season ordinals, where it is a sort of the span's
    eligible reports and two hash joins."""
    k, r = rules.method.window_weeks, rules.reports.alias("r")
    # Each target week W and offset d with the week a report must have to stand for W at that offset, and the
    # season of W (a tiny derived table; plain SELECTs of literals in UNION ALL work on every engine).
    target = union_all(*[
        select(literal(w, Date).label("week"), literal(d, Integer).label("d"),
               literal(w - dt.timedelta(weeks=d), Date).label("report_week"),
               literal(season_bounds(w)[0], Date).label("season_start"),
               literal(season_bounds(w)[1], Date).label("season_end"))
        for w in weeks for d in range(-k, k + 1)]).cte("target")
    by_week = {"partition_by": r.c.profile_id, "order_by": r.c.week}
    e = select(
        r.c.profile_id, r.c.week, r.c.region_code, rules.band(r).label("age_band"), r.c.sex,
        rules.ordinal(r).label("ordinal"),
        func.lag(r.c.week).over(**by_week).label("previous"), func.lead(r.c.week).over(**by_week).label("next")
    ).where(r.c.week.between(weeks[0] - dt.timedelta(weeks=k), weeks[-1] + dt.timedelta(weeks=k)),
            *rules.eligible(r)).subquery("eligible")
    nearest = or_(
        target.c.d == 0,
        and_(target.c.d > 0, or_(e.c.next.is_(None), date_diff_days(e.c.next, e.c.week) >= 14 * target.c.d)),
        and_(target.c.d < 0, or_(e.c.previous.is_(None),
                                 date_diff_days(e.c.week, e.c.previous) > -14 * target.c.d)))
    # The ordinal of the report when it is in W's season (else NULL), for the season rule.
    ordinal = case((e.c.week.between(target.c.season_start, target.c.season_end), e.c.ordinal), else_=null())
    return (select(e.c.profile_id, target.c.week.label("w"), e.c.region_code, e.c.age_band, e.c.sex,
                   target.c.season_start, target.c.season_end, ordinal.label("ordinal"))
            .select_from(e.join(target, target.c.report_week == e.c.week)).where(nearest).cte("candidates"))


def _nearest_by_ranking(weeks: Sequence[dt.date], rules: _Rules) -> Any:
    """Every eligible report of the span paired with each target week it is within k weeks of, ranked per
    (participant, W) by distance, the earlier first (the row of rank 1 is the nearest): the shape for SQLite,
    whose planner joins the neighbours shape's participants with their onsets by scanning the onsets once per
    participant (minutes for the demo) but plans this one well."""
    k, r = rules.method.window_weeks, rules.reports.alias("r")
    target = union_all(*[
        select(literal(w, Date).label("week"), literal(w - dt.timedelta(weeks=k), Date).label("lo"),
               literal(w + dt.timedelta(weeks=k), Date).label("hi"),
               literal(season_bounds(w)[0], Date).label("season_start"),
               literal(season_bounds(w)[1], Date).label("season_end")) for w in weeks]).cte("target")
    rank = func.row_number().over(partition_by=(r.c.profile_id, target.c.week),
                                  order_by=(func.abs(date_diff_days(r.c.week, target.c.week)), r.c.week))
    return (select(r.c.profile_id, target.c.week.label("w"), r.c.region_code, rules.band(r).label("age_band"),
                   r.c.sex, target.c.season_start, target.c.season_end, rank.label("rank"))
            .select_from(r.join(target, r.c.week.between(target.c.lo, target.c.hi)))
            .where(r.c.week.between(weeks[0] - dt.timedelta(weeks=k), weeks[-1] + dt.timedelta(weeks=k)),
                   *rules.eligible(r)).cte("candidates"))


def _with_margins(finest: Any, n_definitions: int) -> Any:
    """The finest cells and the margins (all ages, all sexes, the nation) as a UNION ALL of the eight grouping
    levels (SQLite and PostgreSQL alike, no ROLLUP)."""
    columns = [f"case_{i}" for i in range(n_definitions)]
    levels = []
    for by_region in (True, False):
        for by_band in (True, False):
            for by_sex in (True, False):
                region = finest.c.region_code if by_region else null().cast(Integer)
                band = finest.c.age_band if by_band else literal(ALL, String)
                sex = finest.c.sex if by_sex else literal(ALL, String)
                group = [finest.c.w] + [c for c, on in ((finest.c.region_code, by_region),
                                                        (finest.c.age_band, by_band), (finest.c.sex, by_sex)) if on]
                levels.append(select(
                    finest.c.w.label("week"), literal("region" if by_region else "nation", String).label("geo_type"),
                    region.label("region_code"), band.label("age_band"), sex.label("sex"),
                    func.coalesce(func.sum(finest.c.active), 0).label("active"),
                    *[func.coalesce(func.sum(finest.c[name]), 0).label(name) for name in columns]
                ).group_by(*group))
    return union_all(*levels)


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


_STATEMENTS: dict[tuple, Any] = {}


def count_week(connection: Connection, week: dt.date, definitions: Sequence[CompiledDefinition],
               method: Method, strata: Strata) -> list[CellCount]:
    """Counts for every cell of the full grid of one week, one CellCount per cell and definition."""
    counts = count_weeks(connection, [week], definitions, method, strata)[week]
    return [CellCount(*cell, d.key, d.version, counts.active[cell], counts.cases[i][cell])
            for cell in counts.active for i, d in enumerate(definitions)]


def today_in(timezone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(timezone)).date()


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


# Influenzanet display censoring (ifnBase): hide a week whose active count is below this share of the season's
# maximum, and flag an upper bound above this multiple of the season's maximum incidence.
DISPLAY_ACTIVE_SHARE = 0.35
UPPER_BOUND_FACTOR = 2.0
WEEKS_PER_STATEMENT = 53
# From this many weeks on, the season filters (first report, weeks reported, reports in the season) are window
# functions over the seasons' reports; for fewer weeks, index look-ups per report of the weeks are cheaper.
SEASON_WINDOW_FROM_WEEKS = 4


def load_weights(connection: Connection, name: str, scheme: str, bands: Sequence[Band]) -> list[float]:
    """The standard population of ``name`` for the age bands of ``scheme``, in the bands' order."""
    rows = dict(connection.execute(select(StandardPopulation.age_band, StandardPopulation.population).where(
        StandardPopulation.name == name, StandardPopulation.age_band_scheme == scheme)).all())
    missing = [band.label for band in bands if band.label not in rows]
    if missing:
        raise ValueError(f"standard population {name!r} has no figure for age band(s) {', '.join(missing)} of "
                         f"scheme {scheme!r} (COVIDMETER_STANDARD_POPULATION, table standard_populations)")
    return [float(rows[band.label]) for band in bands]


def publish_week(counts: WeekCounts, definitions: Sequence[CompiledDefinition], method: Method, strata: Strata,
                 policy: DisclosurePolicy, weights: Sequence[float],
                 frozen: Mapping[Key, int | None] | None = None) -> tuple[dict[CellKey, PublishedValues],
                                                                         TableDisclosure]:
    """Disclosure control, intervals, age standardisation and the open-data flag for one week and method.

    The definitions whose reference method this is are what the export and the open data publish: their tables
    and the method's active table are protected together against a reader who solves them as one system
    (scheduler.protection; ``frozen``: what an earlier final issue of this week already published). The other
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
    as ``scheduler.protection`` keys (None: withheld): the joint protection must take it as known."""
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


def season_maxima(connection: Connection, weeks: Sequence[dt.date], method: str) -> dict[tuple, tuple[int, float]]:
    """The largest published active count and incidence so far per (season, cell, definition) of ``method``:
    the seasons' rows of ``season_maxima`` (kept by ``record_season_maxima``)."""
    table = SeasonMaximum.__table__
    seasons = sorted({season_of(w) for w in weeks})
    rows = connection.execute(select(*[table.c[name] for name in _MAXIMUM_KEY], table.c.max_active,
                                     table.c.max_incidence)
                              .where(table.c.method == method, table.c.season.in_(seasons))).all()
    return {tuple(row[:-2]): (row[-2], row[-1]) for row in rows}


# The key of a season maximum, as season_maxima returns it: (season, *cell, definition key, version).
_MAXIMUM_KEY = ("season", "geo_type", "geo_code", "age_band", "sex", "definition_key", "definition_version")


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


def aggregate_weeks(weeks: Iterable[dt.date], definitions: Sequence[CompiledDefinition],
                    methods: Sequence[str | Method] = ("w0",), issue: dt.date | None = None, *,
                    engine: Engine | None = None, config: Mapping[str, Any] | None = None,
                    weeks_per_statement: int = WEEKS_PER_STATEMENT) -> list[WeekResult]:
    """Count, disclose and publish the weeks for each method: one statement and one transaction per method and
    run of up to ``weeks_per_statement`` weeks. With method w0 the participation estimates are written too.

    ``engine`` and ``config`` default to the current Flask app's. ``issue`` defaults to today in
    COVIDMETER_TIMEZONE; re-running with unchanged inputs writes nothing (scheduler.estimates). Weeks whose
    inputs the retention job has purged are skipped, so their published figures stay as they are.
    """
    if engine is None or config is None:
        from flask import current_app

        from reporting.extensions import db

        engine = engine or db.engine
        config = config or current_app.config
    weeks = sorted(set(weeks))
    for week in weeks:
        if week.weekday() != 0:
            raise ValueError(f"{week} is not a Monday")
    resolved = [get_method(m) if isinstance(m, str) else check(m) for m in methods]
    issue = issue or today_in(config["COVIDMETER_TIMEZONE"])
    policy = DisclosurePolicy.from_config(config)
    scheme = config["COVIDMETER_AGE_BAND_SCHEME"]
    results: list[WeekResult] = []
    with engine.connect() as connection:
        strata = load_strata(connection, scheme)
        weights = load_weights(connection, config.get("COVIDMETER_STANDARD_POPULATION", "dk-2024"), scheme,
                               strata.bands)
        horizon = purged_before(connection)
    for method in resolved:
        todo = [w for w in weeks if horizon is None or w >= first_recomputable_week(horizon, method)]
        for week in weeks:
            if week not in todo:
                results.append(WeekResult(week, method.key, 0, WriteSummary(), 0.0,
                                          skipped=f"reports before {horizon} were purged by retention"))
        for start in range(0, len(todo), weeks_per_statement):
            chunk = todo[start:start + weeks_per_statement]
            results.extend(_aggregate_chunk(engine, chunk, definitions, method, issue, policy, strata, weights,
                                            config))
    results.sort(key=lambda r: (r.week, [m.key for m in resolved].index(r.method)))
    return results


def _aggregate_chunk(engine: Engine, weeks: list[dt.date], definitions: Sequence[CompiledDefinition],
                     method: Method, issue: dt.date, policy: DisclosurePolicy, strata: Strata,
                     weights: Sequence[float], config: Mapping[str, Any]) -> list[WeekResult]:
    started = time.perf_counter()
    with engine.begin() as connection:
        counts = count_weeks(connection, weeks, definitions, method, strata)
        values: dict[CellKey, PublishedValues] = {}
        disclosures: dict[dt.date, TableDisclosure] = {}
        frozen = final_tables(connection, weeks, definitions, method)
        for week in weeks:
            week_values, disclosures[week] = publish_week(counts[week], definitions, method, strata, policy, weights,
                                                          frozen.get(week))
            values.update(week_values)
        stored, run = season_maxima(connection, weeks, method.key), run_maxima(values)
        values = apply_display_censoring(values, stored, run)
        record_season_maxima(connection, method.key, run, stored)
        written = write_estimates(connection, values, issue)
        participation = WriteSummary()
        if method.key == "w0":
            participation = write_participation(
                connection, participation_rows(connection, counts, disclosures, strata, policy,
                                               config["COVIDMETER_TIMEZONE"]), issue)
        if written.inserted or written.updated or participation.inserted or participation.updated:
            bump_aggregates_version(connection)  # every web process's figure cache forgets what it held
    seconds = time.perf_counter() - started
    results = []
    for week in weeks:
        nation = ("nation", NATION, ALL, ALL)
        share = len(weeks)
        results.append(WeekResult(
            week, method.key, len(counts[week].active) * len(definitions),
            WriteSummary(*(round(n / share) for n in (written.inserted, written.updated, written.unchanged))),
            seconds / share, counts[week].active[nation],
            {d.key: counts[week].cases[i][nation] for i, d in enumerate(definitions)},
            participation=participation))
    if results:  # the rounding above must not lose rows: the last week carries the remainder
        for name in ("inserted", "updated", "unchanged"):
            total = getattr(written, name)
            setattr(results[-1].written, name, total - sum(getattr(r.written, name) for r in results[:-1]))
    return results


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


# Up to this many week boundaries the registrations are one count per boundary; beyond, one interval per
# profile (two weeks or fewer are the scheduler's hourly run).
FEW_BOUNDS = 4


def aggregate_week(week_monday: dt.date, definitions: Sequence[CompiledDefinition], method: str | Method = "w0",
                   issue: dt.date | None = None, *, engine: Engine | None = None,
                   config: Mapping[str, Any] | None = None) -> WeekResult:
    """Count, disclose and publish one week for one method, in one transaction (see ``aggregate_weeks``)."""
    if week_monday.weekday() != 0:
        raise ValueError(f"{week_monday} is not a Monday")
    [result] = aggregate_weeks([week_monday], definitions, [method], issue, engine=engine, config=config)
    return result


def weeks_between(first: dt.date, last: dt.date) -> list[dt.date]:
    weeks, week = [], first
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(weeks=1)
    return weeks


def report_weeks(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """The first and last week with reports, or None when there are none."""
    first, last = connection.execute(select(func.min(WeeklyReport.week), func.max(WeeklyReport.week))).one()
    return (first, last) if first is not None else None
