"""Provisional weeks (issue 14, item 5): every export row and every figure says whether its week has settled,
no lag is negative, and the dashboard opens on the newest final week.

The data is what the scheduler writes when it runs on a Friday (``RUN``): the week in progress and the week
before it get a provisional issue of that day, the weeks before them their one final issue (written 14 days or
more after their Monday, scheduler.incidence.estimates.is_final)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.weeks import format_iso_week, yearweek
from scheduler.incidence.estimates import FINAL_AFTER_DAYS, is_final
from dashboard import figures
from tests.dashboard.conftest import WEEK1, estimate
from tests.dashboard.test_figures import DENMARK, REGIONS, cell
from tests.dashboard.test_dash import Client, call, response_of, state
from tests.reporting.staff import bearer

WEEKS = [WEEK1 + dt.timedelta(days=7 * k) for k in range(6)]
RUN = WEEKS[-1] + dt.timedelta(days=4)  # Friday of the newest week: the run that gave it lag -2
NEWEST_FINAL = WEEKS[-3]  # issued RUN, 18 days after its Monday; the two after it are provisional


@pytest.fixture
def friday_run(publish: Callable[..., None]) -> None:
    rows = []
    for i, week in enumerate(WEEKS):
        issue = RUN if week >= NEWEST_FINAL else week + dt.timedelta(days=FINAL_AFTER_DAYS)
        for code in ("DK", "1084"):
            for band in ("all", "65+"):
                row = estimate(week, code, incidence=0.01 * (i + 1), lower=0.007 * (i + 1), upper=0.014 * (i + 1),
                               cases=100 + i, active=5000, age_band=band, issue=issue,
                               final=is_final(week, issue))
                row.public = True
                rows.append(row)
    publish(rows)


def _expected(row: dict[str, Any]) -> tuple[bool, int]:
    """What a row must say, from its own week and issue: provisional-ness and the lag (never negative)."""
    week, issue = dt.date.fromisoformat(str(row["week_start"])), dt.date.fromisoformat(str(row["issue"]))
    return not is_final(week, issue), max(0, (issue - (week + dt.timedelta(days=6))).days)


def _flag(value: Any) -> bool:
    assert value in (True, False, "True", "False"), value  # a boolean, or the CSV's spelling of one
    return value in (True, "True")


def _rows(path: str, body: str) -> list[dict[str, Any]]:
    if path.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(body)))
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in body.splitlines()]
    return json.loads(body)["rows"]


def _assert_states_itself(rows: list[dict[str, Any]], where: str) -> None:
    assert rows, where
    for row in rows:
        provisional, lag = _expected(row)
        assert int(row["lag"]) >= 0, (where, row)
        assert (_flag(row["provisional"]), int(row["lag"])) == (provisional, lag), (where, row)


def test_every_export_path_and_format_states_provisional_and_no_negative_lag(
        client: FlaskClient, api_token: Callable[..., str], friday_run: None) -> None:
    secret = api_token(scopes="export:read influenzanet:read")
    document = client.get("/api/v1/openapi.json").get_json()
    paths = [path for path in document["paths"] if not path.endswith(("openapi.json", "/docs"))]
    assert {"/api/v1/incidence.csv", "/api/v1/incidence.json", "/api/v1/incidence.jsonl",
            "/api/v1/open/incidence.csv", "/api/v1/open/incidence.json", "/api/v1/open/incidence.jsonl",
            "/api/v1/influenzanet.csv"} <= set(paths)
    final_weeks = {w for w in WEEKS if w <= NEWEST_FINAL}
    for path in paths:
        for query in ("", f"?as_of={RUN.isoformat()}", f"?from={format_iso_week(WEEKS[-2])}"):
            response = client.get(path + query, headers=bearer(secret))
            assert response.status_code == 200, (path, query, response.get_data(as_text=True))
            body = response.get_data(as_text=True)
            if path.endswith("influenzanet.csv"):
                # The Influenzanet file carries no issue: it serves final weeks only, so each of its rows is final.
                served = {int(r["yw"]) for r in csv.DictReader(io.StringIO(body))}
                assert served <= {yearweek(w) for w in final_weeks}, (path, query, served)
                assert query.startswith("?from") or served == {yearweek(w) for w in final_weeks}
                continue
            rows = _rows(path, body)
            if query.startswith("?from"):
                assert rows == [], (path, query)  # the two provisional weeks: not published outside
                continue
            _assert_states_itself(rows, path + query)
            # Outside the service only final issues go out: none dated before (or soon after) its week ended.
            assert {dt.date.fromisoformat(str(r["week_start"])) for r in rows} == final_weeks, path
            assert not any(_flag(r["provisional"]) for r in rows), path
    # The OpenAPI document describes the column, from the row model.
    schemas = document["components"]["schemas"]
    row_schema = next(s for name, s in schemas.items() if name.endswith("IncidenceRow"))
    assert row_schema["properties"]["provisional"]["type"] == "boolean"
    assert "provisional" in row_schema["required"]
    assert row_schema["properties"]["lag"]["minimum"] == 0


def test_every_dashboard_download_states_provisional_and_no_negative_lag(
        staff_client: Client, friday_run: None) -> None:
    client = staff_client("epidemiologist")
    newest = WEEKS[-1].isoformat()
    for figure in ("timeseries", "map", "breakdown"):
        values = {**{f"csv-{n}.n_clicks": 0 for n in ("timeseries", "map", "breakdown", "participation")},
                  **state(definition="covid.ecdc", method="w0", measure="crude", regions=["1084"],
                          week_from=WEEKS[0].isoformat(), week_to=newest, week=newest, area="DK"),
                  f"csv-{figure}.n_clicks": 1}
        content = response_of(call(client, "download.data", values, changed=[f"csv-{figure}.n_clicks"]))[
            "download"]["data"]["content"]
        rows = list(csv.DictReader(io.StringIO(content)))
        _assert_states_itself(rows, figure)
        # The week in progress: provisional, issued before its Sunday, lag 0 (not -2).
        in_progress = [r for r in rows if r["week_start"] == newest]
        assert in_progress and all((r["provisional"], r["lag"], r["issue"]) == ("True", "0", RUN.isoformat())
                                   for r in in_progress), figure


def test_the_dashboard_opens_on_the_newest_final_week(staff_client: Client, friday_run: None) -> None:
    client = staff_client("epidemiologist")
    opened = response_of(call(client, "url.search", {"url.search": "", **state()}, changed=[]))
    assert opened["week"]["value"] == NEWEST_FINAL.isoformat()
    assert opened["week_to"]["value"] == WEEKS[-1].isoformat()  # the trend still shows the provisional weeks
    labels = [o["label"] for o in opened["week"]["options"]]
    assert labels[:3] == [f"{format_iso_week(WEEKS[-1])} (provisional)", f"{format_iso_week(WEEKS[-2])} (provisional)",
                          format_iso_week(NEWEST_FINAL)]
    assert f"week={format_iso_week(NEWEST_FINAL)}" in opened["url"]["search"]
    # A link naming a provisional week still opens it, and its one-week figures say it is provisional.
    week = WEEKS[-1].isoformat()
    title = response_of(call(client, "map.figure", state(definition="covid.ecdc", method="w0", measure="crude",
                                                         week=week)))["map"]["figure"]["layout"]["title"]["text"]
    assert title.endswith("– provisional")
    final_title = response_of(call(client, "breakdown.figure", state(
        definition="covid.ecdc", method="w0", week=NEWEST_FINAL.isoformat(), area="DK")))["breakdown"]["figure"][
        "layout"]["title"]["text"]
    assert "provisional" not in final_title


@pytest.mark.parametrize(("language", "word"), [("en", "provisional"), ("da", "foreløbig")])
def test_provisional_weeks_are_drawn_apart_and_said(app: Flask, staff_client: Client, friday_run: None,
                                                    language: str, word: str) -> None:
    client = staff_client("epidemiologist")
    client.get(f"/dashboard/?lang={language}")
    data = response_of(call(client, "timeseries.figure", state(
        definition="covid.ecdc", method="w0", measure="crude", week_from=WEEKS[0].isoformat(),
        week_to=WEEKS[-1].isoformat(), week=NEWEST_FINAL.isoformat())))["timeseries"]["figure"]["data"]
    lines = [t for t in data if t.get("mode") == "lines+markers"]
    final, provisional = lines
    assert final["x"] == [w.isoformat() for w in WEEKS[:4]] and "dash" not in final["line"]
    # Joined to the last final week, dashed, hollow markers, and named in the legend and every hover.
    assert provisional["x"] == [w.isoformat() for w in WEEKS[3:]]
    assert provisional["line"]["dash"] == "dash" and provisional["marker"]["symbol"] == "circle-open"
    assert provisional["marker"]["size"] == [0, 7, 7]  # the last final week keeps its solid dot only
    assert word in provisional["name"] and provisional.get("showlegend", True)
    assert all(word in text for text in provisional["hovertext"][1:])
    assert word not in provisional["hovertext"][0] and not any(word in text for text in final["hovertext"])


def test_a_withheld_cell_of_a_provisional_week_says_so(app: Flask) -> None:
    newest = WEEKS[-1]
    cells = [dataclasses.replace(cell(week), issue=RUN if week >= NEWEST_FINAL else week + dt.timedelta(days=14))
             for week in WEEKS[-3:]]
    cells[-1] = dataclasses.replace(cells[-1], incidence=None, cases=None, missing_reason=3)
    with app.test_request_context("/dashboard/", headers={"Accept-Language": "en"}):
        trend = figures.timeseries_figure([figures.Series(DENMARK, cells)], "t", NEWEST_FINAL)
        grey = figures.map_figure(REGIONS, {"1081": dataclasses.replace(cells[-1], geo_code="1081")}, newest, "m")
    marks = next(t for t in trend["data"] if t.get("mode") == "markers")
    assert f"{format_iso_week(newest)} (provisional)" in marks["hovertext"][0]
    assert "provisional: reports may still arrive" in grey["data"][0]["text"][0]
