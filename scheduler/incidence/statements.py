"""The counting statement, run by the database: active participants and cases by geography, age band, sex and
case definition, for one participation method and any number of ISO weeks in ONE statement.

For weeks W1..Wn and a ``Method`` (scheduler.incidence.methods; ifnBase docs/incidence-computation.md) the
statement (``count_statement``) has these parts, each switched on by the method's parameters (the per-report
rules are ``Rules``, scheduler.incidence.rules):

- ``target``: the weeks, with the window bounds each needs (a tiny derived table);
- ``active``: one row per (participant, W): reports of W (or of W-k .. W+k, the nearest one giving the stratum:
  scheduler.incidence.window), optionally without the participant's first report ever, filtered by the
  reports in the season-length span around W and the weeks reported up to W (methods.py: no season restarts
  them, so 1 September is no break);
- ``onsets``: per (participant, onset week), one ``MAX(CASE WHEN <definition> THEN 1 ELSE 0 END)`` column per
  definition over the reports of W .. W + lookahead whose onset week (from the method's onset sources) is W and
  that start a new episode, so a person counts at most once per week and definition;
- the finest cells (week x region x age band x sex), and the margins (all ages, all sexes, the nation) as a
  ``UNION ALL`` of the eight grouping levels over them (SQLite and PostgreSQL alike, no ``ROLLUP``).

Cases are counted in the stratum of the participant's active report, so cases <= active in every cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, String, and_, case, func, literal, literal_column, null, select, union_all

from reporting.weeks import weeks_between

from . import caseflags
from .definitions import CompiledDefinition
from .methods import Method
from .rules import Rules
from .sqlfunctions import date_diff_days, days_between
from .strata import ALL, Band
from .window import finest_with_window


# From this many weeks on, the history filters (first report, weeks reported) are a window function over the
# participants' reports; for fewer weeks, index look-ups per report of the weeks are cheaper.
SEASON_WINDOW_FROM_WEEKS = 4


def count_statement(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition], method: Method,
                    bands: Sequence[Band], bits: Mapping[tuple[str, int], int] | None = None,
                    week_flags_rule: Mapping[str, Any] | None = None, season_ordinals: bool = False) -> Any:
    """The one SELECT that counts active participants and cases of the given weeks for every cell and
    definition (no definitions: active participants only). Rows: week, geo_type, region_code, age_band, sex,
    active, case_0 .. case_n. ``bits``: the stored case flags to read instead of evaluating rules
    (scheduler.incidence.caseflags.usable_bits); ``week_flags_rule``: the rule of the stored week flags, when the
    database has them (scheduler.incidence.caseflags.week_flags_rule); ``season_ordinals``: the reports carry their
    season ordinal (reporting.reports.season_ordinal.present)."""
    weeks = sorted(set(weeks))
    if not weeks:
        raise ValueError("no weeks to aggregate")
    rules = Rules(method, bands, bits or {}, week_flags_rule, season_ordinals)
    if rules.counts_week_flags(definitions):
        finest = _finest_from_week_flags(weeks, definitions, rules)
    elif method.window_weeks == 0:
        finest = _finest_without_window(weeks, definitions, rules)
    else:
        finest = finest_with_window(weeks, definitions, rules)
    return _with_margins(finest, len(definitions))


def _in_weeks(column: Any, weeks: Sequence[dt.date]) -> Any:
    """``column`` is one of the (sorted) Mondays: a range test when they are consecutive (one comparison per
    row instead of up to 53)."""
    if weeks == weeks_between(weeks[0], weeks[-1]):
        return column.between(weeks[0], weeks[-1])
    return column.in_(weeks)


def _finest_without_window(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition],
                           rules: Rules) -> Any:
    """Counts of the finest cells when active in W means a report of W (w0, w0_3w, w0_if).

    Two parts, added cell by cell:

    - ``simple``: one pass over the reports of the weeks, grouped by cell: every (eligible) report is one
      active participant, and a case of definition i when its own onset is in its week, the definition holds
      and it did not answer "same illness" (so it certainly starts a new episode; without a same-episode rule
      every such report does). No join: for w0 the plan is a (parallel) scan and a hash aggregate, like a
      hand-written GROUP BY; the history filters of w0_3w and w0_if (first report, weeks reported) add a
      window function over the participants' reports (many weeks) or index look-ups per report (a few weeks).
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
        conditions = []
        if method.min_reports_in_season > 1:
            conditions.append(rules.reports_around_at_least(r, method.min_reports_in_season, r.c.week))
        if method.min_weeks_reported > 1:  # with ordinals, the report's own ordinal answers most rows
            conditions.append(rules.weeks_reported_at_least(r, method.min_weeks_reported, r.c.week,
                                                            rules.ordinal(r) if rules.ordinals else None))
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

    filtered = method.ignore_first_report or method.min_weeks_reported > 1
    if filtered and len(weeks) >= SEASON_WINDOW_FROM_WEEKS and not rules.ordinals:
        # Many weeks: each report's rank among its participant's reports in one sorted pass (a window
        # function), instead of index look-ups for every report of every week. The rank runs over the
        # participant's whole history up to the last week (ignore-first-report and weeks reported carry across
        # seasons, methods.py), so the pass reads every earlier report when a method asks for the rank.
        r0 = reports.alias("r0")
        flags = [literal_column(f"r0.{caseflags.COLUMN}", BigInteger).label(caseflags.COLUMN)] if rules.bits else []
        history = method.ignore_first_report or method.min_weeks_reported > 1
        span = r0.c.week <= weeks[-1] if history else r0.c.week.between(weeks[0], weeks[-1])
        r = (select(r0, *flags,
                    func.row_number().over(partition_by=r0.c.profile_id, order_by=r0.c.week).label("nth"))
             .where(span).subquery("r"))
        # nth = the weeks reported up to and including this one, in every season (one report per week).
        conditions = [_in_weeks(r.c.week, weeks)]
        if method.ignore_first_report:
            conditions.append(r.c.nth > 1)
        if method.min_weeks_reported > 1:
            conditions.append(r.c.nth >= method.min_weeks_reported)
        if method.min_reports_in_season > 1:  # a span around each week, not a partition: one probe a row
            conditions.append(rules.reports_around_at_least(r, method.min_reports_in_season, r.c.week))
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
                            rules: Rules) -> Any:
    """Counts of the finest cells from the stored week flags (w0 on PostgreSQL; scheduler.incidence.caseflags).

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
