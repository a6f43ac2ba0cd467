"""A method's per-report rules as SQL (``Rules``): which reports count, in which age band, with which onset
week, whether a report starts a new episode, and whether a definition holds (by its stored case flags when
they were built from exactly its rule, scheduler.incidence.caseflags). The counting statements
(scheduler.incidence.statements and .window) are written in these terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (BigInteger, SmallInteger, String, and_, case, exists, func, literal, literal_column, null,
                        or_, select)

from reporting.models import WeeklyReport
from reporting.reports import season_ordinal

from . import caseflags
from .definitions import CompiledDefinition
from .methods import SPAN_WEEKS, Method
from .sqlfunctions import date_diff_days, days_between, monday_of
from .strata import Band


class Rules:
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

    def reports_around_at_least(self, t: Any, m: int, w: Any) -> Any:
        """The participant of row ``t`` has at least ``m`` reports in the season-length span centred on week
        ``w`` (a column or a date): W - 26 .. W + 26 weeks, counting every report known when the run happens
        (ifnBase ``active.min.surveys``, made year-round: methods.py). One probe of the (profile_id, week)
        index per row, reading that participant's entries."""
        s = self.reports.alias("s")
        reach = literal_column(str(7 * SPAN_WEEKS))
        return select(func.count()).where(
            s.c.profile_id == t.c.profile_id, func.abs(date_diff_days(s.c.week, w)) <= reach
        ).scalar_subquery() >= m

    def flagged(self, d: CompiledDefinition) -> bool:
        return (d.key, d.version) in self.bits

    def counts_week_flags(self, definitions: Sequence[CompiledDefinition]) -> bool:
        """The stored week flags answer this method for these definitions (scheduler.incidence.caseflags): every
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
        from exactly this rule (scheduler.incidence.caseflags), else the rule itself."""
        bit = self.bits.get((d.key, d.version))
        if bit is None:
            return d.sql(t)
        return literal_column(f"{t.name}.{caseflags.COLUMN}", BigInteger).op("&")(literal_column(str(1 << bit))) != 0

    def band(self, r: Any) -> Any:
        return case(*[(r.c.age_years.between(b.min_age, b.max_age), literal(b.label, String)) for b in self.bands],
                    else_=null())

    def eligible(self, r: Any) -> list[Any]:
        """Conditions on a report row that may count at all (ignore-first-report: the participant has an
        earlier report, in any season; ifnBase ``ignore.first.only.new``, methods.py)."""
        if not self.method.ignore_first_report:
            return []
        if self.ordinals:
            # A report numbered 2 or more in its season has an earlier one; only a season's first report (one
            # a participant and season) needs the look for a report of an earlier season.
            prior = self.reports.alias("prior")
            return [or_(self.ordinal(r) > 1,
                        exists().where(prior.c.profile_id == r.c.profile_id, prior.c.week < r.c.week))]
        earlier = self.reports.alias("earlier")
        # "Not the participant's first report": a correlated MIN that one probe of the (profile_id, week) index
        # answers per row.
        first = (select(func.min(earlier.c.week)).where(earlier.c.profile_id == r.c.profile_id).scalar_subquery())
        return [r.c.week > first]

    def weeks_reported_at_least(self, t: Any, m: int, up_to: Any, ordinal: Any = None) -> Any:
        """The participant of row ``t`` has reported in at least ``m`` weeks up to and including ``up_to``, in
        any season (COVIDmeter's "at least 3 reports"). ``ordinal``: the season ordinal of their report of
        ``up_to`` when known (it answers when it is m or more; the count runs only for a season's first m - 1
        reports)."""
        s = self.reports.alias("s")
        count = select(func.count()).where(s.c.profile_id == t.c.profile_id, s.c.week <= up_to).scalar_subquery()
        if ordinal is None:
            return count >= m
        return or_(ordinal >= m, count >= m)

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
