"""The finest cells of a method with an activity window (active in W: a report in W-k .. W+k, k > 0): one row
per (participant, W) with the stratum of the nearest report, joined with the participant's onsets in W. Part
of the counting statement (scheduler.incidence.statements)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, Integer, and_, case, func, literal, or_, select, union_all

from .definitions import CompiledDefinition
from .methods import SPAN_WEEKS
from .rules import Rules
from .sqlfunctions import date_diff_days


def finest_with_window(weeks: Sequence[dt.date], definitions: Sequence[CompiledDefinition], rules: Rules) -> Any:
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
    if method.min_reports_in_season > 1:  # reports in the season-length span around W (methods.py)
        around = rules.reports_around_at_least(candidates, method.min_reports_in_season, candidates.c.w)
        if rules.ordinals and method.min_reports_in_season == 2:
            # Two reports: the candidate's own and its previous or next eligible one when that is within the
            # span answer without a look-up (a regular participant); the count runs for the others.
            reach = 7 * SPAN_WEEKS
            around = or_(date_diff_days(candidates.c.w, candidates.c.previous) <= reach,
                         date_diff_days(candidates.c.next, candidates.c.w) <= reach, around)
        conditions.append(around)
    if method.min_weeks_reported > 1:  # weeks reported up to W in every season (methods.py)
        conditions.append(rules.weeks_reported_at_least(candidates, method.min_weeks_reported, candidates.c.w))
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


def _nearest_by_neighbours(weeks: Sequence[dt.date], rules: Rules) -> Any:
    """One row per (participant, W) from the eligible reports and their neighbours (see
    ``finest_with_window``): the shape for PostgreSQL with season ordinals, where it is a sort of the span's
    eligible reports and two hash joins."""
    k, r = rules.method.window_weeks, rules.reports.alias("r")
    # Each target week W and offset d with the week a report must have to stand for W at that offset (a tiny
    # derived table; plain SELECTs of literals in UNION ALL work on every engine).
    target = union_all(*[
        select(literal(w, Date).label("week"), literal(d, Integer).label("d"),
               literal(w - dt.timedelta(weeks=d), Date).label("report_week"))
        for w in weeks for d in range(-k, k + 1)]).cte("target")
    by_week = {"partition_by": r.c.profile_id, "order_by": r.c.week}
    e = select(
        r.c.profile_id, r.c.week, r.c.region_code, rules.band(r).label("age_band"), r.c.sex,
        func.lag(r.c.week).over(**by_week).label("previous"), func.lead(r.c.week).over(**by_week).label("next")
    ).where(r.c.week.between(weeks[0] - dt.timedelta(weeks=k), weeks[-1] + dt.timedelta(weeks=k)),
            *rules.eligible(r)).subquery("eligible")
    nearest = or_(
        target.c.d == 0,
        and_(target.c.d > 0, or_(e.c.next.is_(None), date_diff_days(e.c.next, e.c.week) >= 14 * target.c.d)),
        and_(target.c.d < 0, or_(e.c.previous.is_(None),
                                 date_diff_days(e.c.week, e.c.previous) > -14 * target.c.d)))
    return (select(e.c.profile_id, target.c.week.label("w"), e.c.region_code, e.c.age_band, e.c.sex,
                   e.c.previous, e.c.next)
            .select_from(e.join(target, target.c.report_week == e.c.week)).where(nearest).cte("candidates"))


def _nearest_by_ranking(weeks: Sequence[dt.date], rules: Rules) -> Any:
    """Every eligible report of the span paired with each target week it is within k weeks of, ranked per
    (participant, W) by distance, the earlier first (the row of rank 1 is the nearest): the shape for SQLite,
    whose planner joins the neighbours shape's participants with their onsets by scanning the onsets once per
    participant (minutes for the demo) but plans this one well."""
    k, r = rules.method.window_weeks, rules.reports.alias("r")
    target = union_all(*[
        select(literal(w, Date).label("week"), literal(w - dt.timedelta(weeks=k), Date).label("lo"),
               literal(w + dt.timedelta(weeks=k), Date).label("hi")) for w in weeks]).cte("target")
    rank = func.row_number().over(partition_by=(r.c.profile_id, target.c.week),
                                  order_by=(func.abs(date_diff_days(r.c.week, target.c.week)), r.c.week))
    return (select(r.c.profile_id, target.c.week.label("w"), r.c.region_code, rules.band(r).label("age_band"),
                   r.c.sex, rank.label("rank"))
            .select_from(r.join(target, r.c.week.between(target.c.lo, target.c.hi)))
            .where(r.c.week.between(weeks[0] - dt.timedelta(weeks=k), weeks[-1] + dt.timedelta(weeks=k)),
                   *rules.eligible(r)).cte("candidates"))
