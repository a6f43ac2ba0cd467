"""The read module: newest issue per key, filters, definitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask

from dashboard import queries
from tests.dashboard.conftest import WEEK1, WEEK2, estimate


def test_newest_issue_per_key_only(app: Flask, publish: Callable[..., None]) -> None:
    publish([
        estimate(WEEK1, "DK", incidence=0.010, issue=dt.date(2026, 1, 13)),
        estimate(WEEK1, "DK", incidence=0.012, issue=dt.date(2026, 1, 20)),
        estimate(WEEK1, "DK", incidence=0.011, issue=dt.date(2026, 1, 27)),
        estimate(WEEK1, "DK", incidence=0.5, issue=dt.date(2026, 1, 27), age_band="65+"),
        estimate(WEEK2, "DK", incidence=0.020, issue=dt.date(2026, 1, 20)),
        estimate(WEEK1, "DK", incidence=0.9, method="w1_s2_if2_ex", issue=dt.date(2026, 2, 1)),
    ])
    with app.test_request_context():
        definition = queries.case_definition("covid.ecdc")
        assert definition is not None and definition.default_method == "w0"
        rows = queries.latest_estimates(queries.EstimateFilter(definition, age_band="all", sex="all"))
        assert [(r.week, r.incidence, r.issue) for r in rows] == [
            (WEEK1, 0.011, dt.date(2026, 1, 27)), (WEEK2, 0.020, dt.date(2026, 1, 20))]
        other_method = queries.latest_estimates(queries.EstimateFilter(definition, method="w1_s2_if2_ex"))
        assert [r.incidence for r in other_method] == [0.9]
        assert queries.available_weeks(definition) == [WEEK1, WEEK2]
        assert queries.latest_estimates(queries.EstimateFilter(definition, week_from=WEEK2))[0].week == WEEK2


def test_staff_views_see_provisional_issues_and_nothing_else_does(app: Flask, publish: Callable[..., None]) -> None:
    publish([estimate(WEEK1, "DK", incidence=0.010, issue=dt.date(2026, 1, 20)),
             estimate(WEEK1, "DK", incidence=0.015, issue=dt.date(2026, 1, 27), final=False)])
    with app.test_request_context():
        definition = queries.case_definition("covid.ecdc")
        assert definition is not None
        staff = queries.latest_estimates(queries.EstimateFilter(definition, include_provisional=True))
        published = queries.latest_estimates(queries.EstimateFilter(definition))
        assert [r.incidence for r in staff] == [0.015] and [r.incidence for r in published] == [0.010]


def test_definitions_and_geographies(app: Flask) -> None:
    with app.test_request_context():
        keys = [d.key for d in queries.case_definitions()]
        assert {"covid.ecdc", "ili.ecdc", "any.symptom"} <= set(keys)
        assert queries.case_definition("nope") is None
        geographies = queries.geographies()
        assert [g.code for g in geographies] == ["DK", "1081", "1082", "1083", "1084", "1085"]
        assert geographies[5].iso_code == "DK-85" and geographies[5].name == "Region Sjælland"


def test_methods_of_a_definition_default_first_and_only_its_version(app: Flask,
                                                                    publish: Callable[..., None]) -> None:
    other_version = estimate(WEEK1, "DK", method="w0_if")
    other_version.definition_version = 2
    publish([estimate(WEEK1, "DK", method="w1_s2_if2_ex"), estimate(WEEK1, "1084", method="w0_3w"),
             estimate(WEEK2, "1084", method="w0_3w", age_band="65+"), other_version,
             estimate(WEEK1, "DK", definition="ili.ecdc", method="w0")])
    with app.test_request_context():
        covid = queries.case_definition("covid.ecdc")
        ili = queries.case_definition("ili.ecdc")
        assert covid is not None and ili is not None and covid.version == 1
        # w0 is covid.ecdc's default: listed first although nothing was published with it; w0_if is version 2's.
        assert queries.available_methods(covid) == ["w0", "w0_3w", "w1_s2_if2_ex"]
        assert queries.available_methods(ili) == [ili.default_method, "w0"]
        assert queries.available_weeks(covid, "w0_3w") == [WEEK1, WEEK2]


def test_participation_newest_issue_per_week_and_geography(app: Flask, publish: Callable[..., None]) -> None:
    from tests.dashboard.conftest import participation

    publish([
        participation(WEEK1, "DK", active=5000, issue=dt.date(2026, 1, 13)),
        participation(WEEK1, "DK", active=5100, issue=dt.date(2026, 1, 20)),
        participation(WEEK1, "1084", active=900, issue=dt.date(2026, 1, 13)),
        participation(WEEK2, "DK", active=5300, missing_reason=3, issue=dt.date(2026, 1, 20)),
    ])
    with app.test_request_context():
        rows = queries.latest_participation(["DK"])
        assert [(r.week, r.active, r.missing_reason) for r in rows] == [(WEEK1, 5100, 0), (WEEK2, 5300, 3)]
        assert [r.active for r in queries.latest_participation(["DK"], as_of=dt.date(2026, 1, 15))] == [5000]
        both = queries.latest_participation(["DK", "1084"], week_to=WEEK1)
        assert [(r.geo_code, r.active) for r in both] == [("DK", 5100), ("1084", 900)]
        assert queries.latest_participation(["DK"], week_from=WEEK2)[0].week == WEEK2
