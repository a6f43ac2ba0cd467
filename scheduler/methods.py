"""Incidence methods as data: who counts as an active participant in week W, and which reports carry cases.

The methods follow ifnBase (docs/incidence-computation.md; Guerrisi et al., "Participatory syndromic
surveillance of influenza in Europe", J Infect Dis 2016, and Guerrisi et al. 2018): a method is a set of
parameters, not a code path, so Influenzanet's ``w1_s2_if2_ex`` and COVIDmeter's "at least 3 weeks reported"
rule become new ``Method`` values once the aggregation supports their parameters (issue 4).

``w0`` (the covid.ecdc default): active in W = reported in W; a case is an active participant with a report of
week W or W+1 whose onset (first known of fever start, symptom start, report date) falls in W, at most once per
person and week; a report answering "same illness as last time" within 15 days of the previous report is the
same episode and not a new case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    key: str
    description: str
    source: str
    # Active in W: reported in W - window_weeks .. W + window_weeks (w0: 0, w1: 1).
    window_weeks: int = 0
    # At least this many reports in the season of W (s2: 2).
    min_reports_in_season: int = 1
    # Ignore a participant's first report (Flu Near You; ifnBase "if2").
    ignore_first_report: bool = False
    # At least this many distinct weeks reported up to W (COVIDmeter: 3).
    min_weeks_reported: int = 1
    # Reports of W .. W + onset_lookahead_weeks may carry an onset in W.
    onset_lookahead_weeks: int = 1
    # A "same illness" answer within this many days of the previous report is not a new case (None: off).
    same_episode_days: int | None = 15

    def unsupported(self) -> list[str]:
        """Parameters this release of the aggregation cannot evaluate yet (empty for supported methods)."""
        problems = []
        if self.window_weeks != 0:
            problems.append(f"window_weeks={self.window_weeks}")
        if self.min_reports_in_season != 1:
            problems.append(f"min_reports_in_season={self.min_reports_in_season}")
        if self.ignore_first_report:
            problems.append("ignore_first_report=True")
        if self.min_weeks_reported != 1:
            problems.append(f"min_weeks_reported={self.min_weeks_reported}")
        if self.onset_lookahead_weeks < 0:
            problems.append(f"onset_lookahead_weeks={self.onset_lookahead_weeks}")
        return problems


W0 = Method(
    key="w0",
    description="Active in week W = reported in W; onset in W from a report of W or W+1; "
                "same illness within 15 days is not a new case.",
    source="ifnBase docs/incidence-computation.md (method w0, the covid.ecdc default)",
)

METHODS: dict[str, Method] = {W0.key: W0}


def get_method(key: str) -> Method:
    try:
        method = METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r} (known: {', '.join(METHODS)})") from None
    problems = method.unsupported()
    if problems:
        raise ValueError(f"method {key!r} needs parameters the aggregation does not support yet: "
                         f"{', '.join(problems)}")
    return method
