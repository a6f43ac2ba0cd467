"""Incidence methods as data: who counts as an active participant in week W, and which reports carry cases.

The methods follow ifnBase (docs/incidence-computation.md and R/incidence_rs2014.R; Guerrisi et al.,
"Participatory syndromic surveillance of influenza in Europe", J Infect Dis 2016, and Guerrisi et al. 2018):
a method is a set of parameters, not a code path. ``scheduler.incidence.statements`` compiles the parameters
into the one SQL statement, and ``scheduler.incidence.reference`` evaluates the same parameters in plain Python
for the tests.

Parameters (docs/methods.md has the sources and the decisions):

- ``window_weeks`` k: active in W = at least one (eligible) report in W-k .. W+k (w0: 0, Influenzanet w1: 1).
  The stratum (region, age, sex) comes from the report nearest to W, the earlier one on a tie.
- ``min_reports_in_season``: at least this many reports in the season-length span centred on W (W - 26 ..
  W + 26 weeks, 53 weeks), counting every report known when the aggregation runs (ifnBase "s2", non-causal).
  Source: ifnBase ``active.min.surveys``, "minimal number of weekly surveys during the season" (Guerrisi et
  al. 2016: participants with at least two surveys, to leave out those who report once, mostly when ill).
  ifnBase counts within the season because it computes one season's data at a time (a layout, not the
  rule's purpose). A year-round service counting within 1 September - 31 August would drop, in the last
  weeks of August, whoever joined then (one report before the turn) and, with a window, whoever is active in
  W only through a report across the turn; so the season here is a year of reports around W, which moves
  with W and has no edge at 1 September. In mid-season it is ifnBase's count for anyone who reports within
  half a year of W; a participant who reports once a year still does not count. The name is kept (published
  methods and tests name the parameter); "season" means a season's length around W.
- ``min_weeks_reported``: at least this many weeks reported up to and including W, in every season (the
  participant's whole history, as far as retention keeps it). Source: COVIDmeter (Statens Serum Institut
  2020) counted people who had sent at least 3 weekly reports, not 3 a season; counting per season made the
  first two weeks of every September publish no one. Causal, unlike the span count. The default 1 imposes
  nothing (with a window, a participant may be active in W through a report of W+1).
- ``ignore_first_report``: a participant's first report ever (their first report of their first season)
  neither makes them active nor carries a case; a participant who reported before, in any earlier season,
  keeps all their reports. Source: ifnBase ``ignore.first.only.new`` = TRUE in every Influenzanet parameter
  set ("only ignore first survey for the new participants (if the season is the first of a participant)"):
  new joiners over-report illness (also Flu Near You, which dropped each user's first report). Dropping the
  first report of every season, as before, dropped every returning participant's first September report and
  made w0_if publish no one in the first September week. "Ever" means among the reports kept: a participant
  whose earlier seasons retention purged (whole seasons ended 730 days ago) counts as new again.
- ``onset_sources``: the onset date is the first known of these, in order: ``fever_start``, ``symptom_start``,
  ``report`` (the report's week). The default is ifnBase's order; ``("report",)`` counts a case in the week
  it was reported.
- ``onset_lookahead_weeks`` L: reports of W .. W+L may carry an onset in W (w0: 1, a cough that began on
  Sunday and was reported on Monday still counts in its week).
- ``same_episode_days``: a report answering "same illness as last time" within this many days of the previous
  report continues an episode and is not a new case (ifnBase ``exclude.same.delay``: 15 days; None: off).

At most one case per person, week and definition, whatever the number of reports carrying an onset in W.
"""

from __future__ import annotations

from dataclasses import dataclass

ONSET_SOURCES = ("fever_start", "symptom_start", "report")
# Half the span of ``min_reports_in_season``: reports of W - SPAN_WEEKS .. W + SPAN_WEEKS count (a season's
# length, 53 weeks, centred on W).
SPAN_WEEKS = 26
DEFAULT_ONSET = ONSET_SOURCES


@dataclass(frozen=True)
class Method:
    key: str
    description: str
    source: str
    window_weeks: int = 0
    min_reports_in_season: int = 1
    ignore_first_report: bool = False
    min_weeks_reported: int = 1
    onset_lookahead_weeks: int = 1
    same_episode_days: int | None = 15
    onset_sources: tuple[str, ...] = DEFAULT_ONSET

    def problems(self) -> list[str]:
        """Parameter values that make no sense (empty for a valid method)."""
        problems = []
        if not 0 <= self.window_weeks <= 4:
            problems.append(f"window_weeks={self.window_weeks} (0..4)")
        if self.min_reports_in_season < 1:
            problems.append(f"min_reports_in_season={self.min_reports_in_season} (>= 1)")
        if self.min_weeks_reported < 1:
            problems.append(f"min_weeks_reported={self.min_weeks_reported} (>= 1)")
        if not 0 <= self.onset_lookahead_weeks <= 4:
            problems.append(f"onset_lookahead_weeks={self.onset_lookahead_weeks} (0..4)")
        if self.same_episode_days is not None and self.same_episode_days < 0:
            problems.append(f"same_episode_days={self.same_episode_days}")
        if not self.onset_sources or any(s not in ONSET_SOURCES for s in self.onset_sources) \
                or len(set(self.onset_sources)) != len(self.onset_sources):
            problems.append(f"onset_sources={self.onset_sources} (distinct values of {ONSET_SOURCES})")
        elif self.onset_sources[-1] != "report":
            problems.append("onset_sources must end with 'report' (every report has a week)")
        return problems

    @property
    def uses_stored_onset(self) -> bool:
        """True when the onset rule is the one stored on each report (``weekly_reports.onset_week``)."""
        return self.onset_sources == DEFAULT_ONSET


_IFN = "ifnBase docs/incidence-computation.md, R/incidence_rs2014.R (Influenzanet)"

W0 = Method(
    key="w0",
    description="Active in W = reported in W; onset in W from a report of W or W+1; "
                "same illness within 15 days is not a new case.",
    source=f"{_IFN}: method w0, the covid.ecdc default",
)
W1_S2_IF2_EX = Method(
    key="w1_s2_if2_ex",
    description="Active in W = reported in W-1, W or W+1, at least 2 reports in the 53 weeks centred on W, "
                "a new participant's first report ignored; same illness within 15 days is not a new case.",
    source=f"{_IFN}: method w1_s2_if2_ex, the ili.ecdc default",
    window_weeks=1, min_reports_in_season=2, ignore_first_report=True,
)
COVIDMETER_3W = Method(
    key="w0_3w",
    description="As w0, counting only participants who have reported in at least 3 weeks up to W, in any "
                "season (COVIDmeter).",
    source="Statens Serum Institut, COVIDmeter methods (2020): participants with at least 3 weekly reports",
    min_weeks_reported=3,
)
W0_IGNORE_FIRST = Method(
    key="w0_if",
    description="As w0, ignoring each participant's first report ever (new joiners over-report illness); "
                "returning participants keep all their reports.",
    source="ifnBase ignore.first.only.new; Flu Near You (Smolinski et al., Am J Public Health 2015)",
    ignore_first_report=True,
)

METHODS: dict[str, Method] = {m.key: m for m in (W0, W1_S2_IF2_EX, COVIDMETER_3W, W0_IGNORE_FIRST)}


def get_method(key: str) -> Method:
    try:
        method = METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r} (known: {', '.join(METHODS)})") from None
    check(method)
    return method


def check(method: Method) -> Method:
    problems = method.problems()
    if problems:
        raise ValueError(f"method {method.key!r} has invalid parameters: {', '.join(problems)}")
    return method
