"""The figures are plain dicts written without plotly.graph_objects (for speed): they must be exactly what
Plotly would make of the same properties, for every kind of cell the scheduler writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import plotly.graph_objects as go
import pytest
from flask import Flask

from dashboard import figures
from dashboard.queries import Estimate, Geography, Participation
from scheduler.incidence.estimates import FINAL_AFTER_DAYS
from tests.dashboard.conftest import WEEK1, WEEK2, WEEK3
from tests.dashboard.test_dash import Client, call, response_of, state

DENMARK = Geography("nation", "DK", "DK", "Denmark")
REGIONS = [Geography("region", str(code), f"DK-{code - 1000}", f"Region {code}") for code in range(1081, 1086)]
WEEK4 = WEEK3 + dt.timedelta(days=7)
WEEK6 = WEEK3 + dt.timedelta(days=21)  # after a missing week 5


def cell(week: dt.date, code: str = "DK", *, age_band: str = "all", sex: str = "all", **changes: Any) -> Estimate:
    base = Estimate(
        week=week, geo_type="nation" if code == "DK" else "region", geo_code=code, age_band=age_band, sex=sex,
        definition_key="covid.ecdc", definition_version=1, method="w0", active=1200, cases=24, incidence=0.02,
        lower_95=0.013, upper_95=0.03, wilson_lower_95=0.013, wilson_upper_95=0.03, stderr=0.004,
        standardised_incidence=0.021, standardised_lower_95=0.014, standardised_upper_95=0.031,
        display_censored=False, upper_censored=False, public=True, missing_reason=0, issue=week + dt.timedelta(FINAL_AFTER_DAYS))
    return dataclasses.replace(base, **changes)


def withheld(week: dt.date, code: str = "DK", reason: int = 3, **changes: Any) -> Estimate:
    return cell(week, code, cases=None, incidence=None, lower_95=None, upper_95=None, standardised_incidence=None,
                standardised_lower_95=None, standardised_upper_95=None, missing_reason=reason, **changes)


def every_kind_of_week(code: str) -> list[Estimate]:
    """Shown, privacy-suppressed, too few active, display-censored, censored upper bound, no standardised
    figure, and a missing week (a gap in the band)."""
    return [
        cell(WEEK1, code),
        withheld(WEEK2, code, reason=3),
        cell(WEEK3, code, upper_censored=True),
        cell(WEEK4, code, standardised_incidence=None, standardised_lower_95=None, standardised_upper_95=None),
        withheld(WEEK6, code, reason=6, active=40),
        cell(WEEK6 + dt.timedelta(days=7), code, display_censored=True),
        cell(WEEK6 + dt.timedelta(days=14), code, lower_95=None),
    ]


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def assert_plotly_would_make_it(figure: dict[str, Any]) -> None:
    """Plotly validates every property (an unknown one or a bad value raises) and its own JSON of the result
    is the figure itself: nothing was coerced, nothing added or dropped."""
    validated = go.Figure(figure)
    assert _json(validated.to_plotly_json()) == _json(figure)


def _cases() -> dict[str, Any]:
    series = [figures.Series(DENMARK, every_kind_of_week("DK")),
              figures.Series(REGIONS[0], every_kind_of_week("1081")), figures.Series(REGIONS[3], [])]
    by_region = {"1081": cell(WEEK1, "1081"), "1082": withheld(WEEK1, "1082", reason=3),
                 "1083": withheld(WEEK1, "1083", reason=6), "1084": cell(WEEK1, "1084", display_censored=True)}
    breakdown = [cell(WEEK1, "1084", age_band=band, sex=sex, incidence=0.01 * (i + 1))
                 for i, (band, sex) in enumerate((b, s) for b in ("all", "0-20", "21-64", "65+")
                                                 for s in ("all", "female", "male"))]
    breakdown[-1] = withheld(WEEK1, "1084", age_band="65+", sex="male")
    breakdown.append(cell(WEEK1, "1084", age_band="21-64", sex="other", upper_95=None))
    participation = [Participation(WEEK1, "nation", "DK", 9000, 6000, 120, 0.667, 0, WEEK2),
                     Participation(WEEK2, "nation", "DK", None, None, None, None, 3, WEEK3),
                     Participation(WEEK3, "nation", "DK", 9100, 6100, 100, None, 0, WEEK4)]
    return {
        "trend, crude": lambda: figures.timeseries_figure(series, "t", WEEK3),
        "trend, standardised": lambda: figures.timeseries_figure(series, "t", WEEK3, figures.STANDARDISED),
        "trend, no week": lambda: figures.timeseries_figure(series[:1], "t", None),
        "trend, nothing published": lambda: figures.timeseries_figure([], "t", WEEK1),
        "map, crude": lambda: figures.map_figure(REGIONS, by_region, WEEK1, "m", geojson_url="/r.geojson"),
        "map, standardised": lambda: figures.map_figure(REGIONS, by_region, WEEK1, "m", figures.STANDARDISED,
                                                        geojson_url="/r.geojson"),
        "map, inlined boundaries": lambda: figures.map_figure(REGIONS, by_region, WEEK1, "m"),
        "map, all shown": lambda: figures.map_figure(REGIONS[:1], {"1081": cell(WEEK1, "1081")}, WEEK1, "m"),
        "map, no week": lambda: figures.map_figure(REGIONS, {}, None, "", geojson_url="/r.geojson"),
        "breakdown": lambda: figures.breakdown_figure(breakdown, ["0-20", "21-64", "65+"], "b"),
        "breakdown, nothing published": lambda: figures.breakdown_figure([], [], "b"),
        "participation": lambda: figures.participation_figure(participation, "p"),
        "participation, nothing published": lambda: figures.participation_figure([], "p"),
    }


@pytest.mark.parametrize("case", list(_cases()))
@pytest.mark.parametrize("language", ["en", "da"])
def test_every_figure_is_what_plotly_would_make(app: Flask, case: str, language: str) -> None:
    with app.test_request_context(f"/dashboard/?lang={language}", headers={"Accept-Language": language}):
        figure = _cases()[case]()
    assert_plotly_would_make_it(figure)
    assert figure["layout"]["template"]["layout"]  # the template travels with the figure, as before


def test_trend_traces_for_every_kind_of_cell(app: Flask) -> None:
    with app.test_request_context("/dashboard/", headers={"Accept-Language": "en"}):
        figure = figures.timeseries_figure([figures.Series(DENMARK, every_kind_of_week("DK"))], "t", WEEK3)
    band, line, marks = figure["data"]
    assert line["y"] == pytest.approx([20.0, None, 20.0, 20.0, None, None, 20.0])
    # The band skips withheld weeks, the missing week 5 and a week without a lower bound; a censored upper
    # bound is replaced by the value.
    assert band["x"] == [WEEK1.isoformat()] * 2 + [None] + [WEEK3.isoformat(), WEEK4.isoformat(),
                                                          WEEK4.isoformat(), WEEK3.isoformat()]
    assert band["y"][:2] == pytest.approx([30.0, 13.0]) and band["y"][3] == pytest.approx(20.0)
    assert "(upper bound censored)" in line["hovertext"][2]
    reasons = marks["hovertext"]
    assert len(reasons) == 3 and "privacy" in reasons[0] and "too few active participants" in reasons[1]
    assert "40 active participants" in reasons[1] and "display censoring" in reasons[2]
    assert figure["layout"]["shapes"][0]["x0"] == WEEK3.isoformat()


def test_the_map_names_its_boundaries_by_url_and_they_are_served(app: Flask, staff_client: Client,
                                                                published: None) -> None:
    client = staff_client("epidemiologist")
    figure = response_of(call(client, "map.figure", state(definition="covid.ecdc", method="w0", measure="crude",
                                                          week=WEEK3.isoformat())))["map"]["figure"]
    urls = {trace["geojson"] for trace in figure["data"]}
    assert len(urls) == 1
    url = urls.pop()
    assert url.startswith("/dashboard/assets/regions.geojson?v=")
    served = client.get(url)
    assert served.status_code == 200
    assert json.loads(served.get_data()) == figures.regions_geojson()
    assert app.test_client().get(url).status_code in (302, 401)  # staff only, as the rest of /dashboard/


def test_translation_follows_a_forced_locale_within_a_request(app: Flask) -> None:
    from flask_babel import force_locale

    from dashboard.i18n import _

    with app.test_request_context("/dashboard/", headers={"Accept-Language": "en"}):
        assert _("withheld") == "withheld"
        with force_locale("da"):
            assert _("withheld") == "tilbageholdt"
            assert _("%(active)s active participants", active="7") == "7 aktive deltagere"
        assert _("withheld") == "withheld"
        assert _("%(rate)s per 1,000 (95 %% interval %(lower)s–%(upper)s)", rate="1", lower="0", upper="2") == \
            "1 per 1,000 (95 % interval 0–2)"
    assert _("withheld") == "withheld"  # outside a request: untranslated
