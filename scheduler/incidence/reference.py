"""The plain-Python reference of the counting, for tests: the same methods and definitions as the SQL of
``scheduler.incidence.statements``, written the obvious way over a list of report dictionaries (one per row of
``weekly_reports``). It is slow and simple on purpose; the tests hold the SQL to it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reporting.weeks import monday_of

from .definitions import CompiledDefinition
from .methods import SPAN_WEEKS, Method

Cell = tuple[str, str, str, str]


def band_of(age: int, bands: Sequence[tuple[str, int, int]]) -> str | None:
    for label, lo, hi in bands:
        if lo <= age <= hi:
            return label
    return None


def onset_week(report: Mapping[str, Any], method: Method) -> dt.date:
    for source in method.onset_sources:
        if source == "report":
            return report["week"]
        if report[source] is not None:
            return monday_of(report[source])
    raise AssertionError("onset_sources ends with 'report'")


def reference_counts(reports: Iterable[Mapping[str, Any]], monday: dt.date,
                     definitions: Sequence[CompiledDefinition], method: Method,
                     bands: Sequence[tuple[str, int, int]]) -> tuple[Counter, Counter]:
    """(active, cases): active keyed by cell (geo_type, geo_code, age band, sex), cases by (cell, definition
    key); the margins 'all' and the nation included, cells without anyone absent (count 0)."""
    by_profile: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for report in reports:
        by_profile[report["profile_id"]].append(report)
    for rows in by_profile.values():
        rows.sort(key=lambda r: r["week"])

    def eligible(report: Mapping[str, Any]) -> bool:
        """Ignore-first-report: the participant's first report ever (of the reports kept) is not eligible; a
        participant who reported before keeps every report, whatever the season (ifnBase
        ``ignore.first.only.new``)."""
        if not method.ignore_first_report:
            return True
        return any(r["week"] < report["week"] for r in by_profile[report["profile_id"]])

    def new_episode(report: Mapping[str, Any]) -> bool:
        if method.same_episode_days is None or report["same_illness"] != "yes":
            return True
        earlier = [r for r in by_profile[report["profile_id"]] if r["week"] < report["week"]]
        if not earlier:
            return True
        gap = (report["submitted_at"] - earlier[-1]["submitted_at"]).total_seconds() / 86400
        return gap > method.same_episode_days

    active: Counter = Counter()
    cases: Counter = Counter()
    window = dt.timedelta(weeks=method.window_weeks)
    lookahead = dt.timedelta(weeks=method.onset_lookahead_weeks)
    span = dt.timedelta(weeks=SPAN_WEEKS)
    for rows in by_profile.values():
        in_window = [r for r in rows if monday - window <= r["week"] <= monday + window and eligible(r)]
        if not in_window:
            continue
        # Reports in the season-length span centred on W, later ones included (ifnBase "s2", year-round).
        around = [r for r in rows if monday - span <= r["week"] <= monday + span]
        if len(around) < method.min_reports_in_season:
            continue
        # Weeks reported up to and including W, in every season (COVIDmeter: at least 3 reports, not 3 a season).
        if method.min_weeks_reported > 1 and \
                len([r for r in rows if r["week"] <= monday]) < method.min_weeks_reported:
            continue
        stratum = min(in_window, key=lambda r: (abs((r["week"] - monday).days), r["week"]))
        band = band_of(stratum["age_years"], bands)
        carriers = [r for r in rows if eligible(r) and onset_week(r, method) == monday
                    and monday <= r["week"] <= monday + lookahead and new_episode(r)]
        for geo in (("region", str(stratum["region_code"])), ("nation", "DK")):
            for age in ((band, "all") if band else ("all",)):
                for sex in (stratum["sex"], "all"):
                    cell = (*geo, age, sex)
                    active[cell] += 1
                    for definition in definitions:
                        if any(definition.matches(r) for r in carriers):
                            cases[(cell, definition.key)] += 1
    return active, cases
