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


def test_definitions_and_geographies(app: Flask) -> None:
    with app.test_request_context():
        keys = [d.key for d in queries.case_definitions()]
        assert {"covid.ecdc", "ili.ecdc", "any.symptom"} <= set(keys)
        assert queries.case_definition("nope") is None
        geographies = queries.geographies()
        assert [g.code for g in geographies] == ["DK", "1081", "1082", "1083", "1084", "1085"]
        assert geographies[5].iso_code == "DK-85" and geographies[5].name == "Region Sjælland"
