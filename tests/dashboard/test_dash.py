"""The Dash app through the test client, as the browser's renderer talks to it: the URL state, the four
figures, the CSV download, roles and CSRF on callbacks, the cache."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, func

from reporting.extensions import db
from reporting.models import AuditEvent
from tests.dashboard.conftest import WEEK1, WEEK2, WEEK3, estimate

Client = Callable[..., FlaskClient]
CONTROLS = ("definition", "method", "measure", "week_from", "week_to", "week", "regions", "area")


def call(client: FlaskClient, output: str, values: dict[str, Any], changed: list[str] | None = None,
         dependencies_from: FlaskClient | None = None, **headers: str) -> Any:
    """POST /dashboard/_dash-update-component with the body Dash's renderer builds from the dependencies.
    ``output`` is one output ('timeseries.figure') of the callback; ``values`` maps 'id.prop' to values."""
    dependencies = (dependencies_from or client).get("/dashboard/_dash-dependencies").get_json()
    dependency = next(d for d in dependencies if output in d["output"].strip(".").split("..."))

    def spec(item: dict[str, str]) -> dict[str, Any]:
        return {**item, "value": values.get(f"{item['id']}.{item['property']}")}

    outputs = [dict(zip(("id", "property"), part.split("."))) for part in dependency["output"].strip(".").split("...")]
    body = {
        "output": dependency["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [spec(i) for i in dependency["inputs"]],
        "state": [spec(s) for s in dependency["state"]],
        "changedPropIds": changed if changed is not None else [f"{i['id']}.{i['property']}"
                                                               for i in dependency["inputs"]],
    }
    return client.post("/dashboard/_dash-update-component", json=body, headers=headers)


def response_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def traces(response: Any, component: str) -> list[dict[str, Any]]:
    return response_of(response)[component]["figure"]["data"]


def state(**controls: Any) -> dict[str, Any]:
    values = {f"{name}.value": None for name in CONTROLS}
    values["regions.value"] = []
    values.update({f"{k}.value": v for k, v in controls.items()})
    return values


def test_one_dash_instance_per_app_with_callbacks_on_it(app: Flask) -> None:
    from wsgi import create_app

    dash_app = app.extensions["covidmeter.dash"]
    assert dash_app.server is app
    count = len(dash_app.callback_map)
    assert count == 10  # state, 4 figures, CSV download, 4 clientside image downloads
    other = create_app(dict(app.config))
    assert other.extensions["covidmeter.dash"] is not dash_app
    assert len(other.extensions["covidmeter.dash"].callback_map) == count


def test_index_layout_and_security_headers(staff_client: Client) -> None:
    client = staff_client("epidemiologist")
    index = client.get("/dashboard/")
    assert index.status_code == 200 and index.mimetype == "text/html"
    csp = index.headers["Content-Security-Policy"]
    html = index.get_data(as_text=True)
    assert html.startswith("<!DOCTYPE html>\n<html lang=")
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert inline, "Dash's renderer script should be inline"
    for script in inline:  # every inline script (renderer, clientside callbacks) is allowed by hash
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "_csrf_token=" in index.headers["Set-Cookie"] and "SameSite=Strict" in index.headers["Set-Cookie"]
    layout = client.get("/dashboard/_dash-layout")
    assert layout.status_code == 200
    text = layout.get_data(as_text=True)
    for control in CONTROLS:
        assert f'"id": "{control}"' in text or f'"id":"{control}"' in text
    assert "csrf_token" in text and "Download CSV" in text
    assert client.get("/dashboard/assets/europe_50m.json").status_code == 200


# --- the view state lives in the URL ---------------------------------------------------------------------

def test_state_from_a_shared_link(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    result = response_of(call(client, "url.search", {
        "url.search": "?definition=covid.ecdc&method=w0&measure=standardised&from=2026-W03&to=2026-W04"
                      "&week=2026-W03&regions=1084,1081,9999&area=1084", **state()}, changed=["url.search"]))
    assert result["definition"]["value"] == "covid.ecdc"
    assert result["measure"]["value"] == "standardised"
    assert result["week_from"]["value"] == WEEK2.isoformat() and result["week_to"]["value"] == WEEK3.isoformat()
    assert result["week"]["value"] == WEEK2.isoformat()
    assert result["regions"]["value"] == ["1084", "1081"]  # an unknown code is dropped
    assert result["area"]["value"] == "1084"
    assert [o["label"] for o in result["week"]["options"]] == ["2026-W04", "2026-W03", "2026-W02"]
    assert result["url"]["search"] == ("?definition=covid.ecdc&method=w0&measure=standardised&from=2026-W03"
                                       "&to=2026-W04&week=2026-W03&regions=1084,1081&area=1084")
    assert "Cough OR fever" in result["definition-description"]["children"]


def test_defaults_and_a_control_change_write_the_url(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    first = response_of(call(client, "url.search", {"url.search": "", **state()}, changed=[]))
    assert first["definition"]["value"] == "covid.ecdc" and first["method"]["value"] == "w0"
    assert first["week"]["value"] == WEEK3.isoformat() and first["week_from"]["value"] == WEEK1.isoformat()
    assert first["url"]["search"].startswith("?definition=covid.ecdc&method=w0&measure=crude&from=2026-W02")
    # The user picks ili.ecdc: its only week is W02, so the weeks follow, and the URL says so.
    changed = response_of(call(client, "url.search", {
        "url.search": first["url"]["search"],
        **state(definition="ili.ecdc", method="w0", measure="crude", week_from=WEEK1.isoformat(),
                week_to=WEEK3.isoformat(), week=WEEK3.isoformat(), area="DK")}, changed=["definition.value"]))
    assert changed["method"]["value"] == "w1_s2_if2_ex"  # w0 has no ili.ecdc estimates; its default
    assert changed["week"]["value"] == WEEK1.isoformat()
    assert "definition=ili.ecdc" in changed["url"]["search"] and "week=2026-W02" in changed["url"]["search"]


# --- figures ----------------------------------------------------------------------------------------------

def test_time_series_from_published_estimates(staff_client: Client, published: None) -> None:
    client = staff_client("authority")
    data = traces(call(client, "timeseries.figure", state(
        definition="covid.ecdc", method="w0", measure="crude", regions=["1081", "1084"],
        week_from=WEEK1.isoformat(), week_to=WEEK3.isoformat(), week=WEEK2.isoformat())), "timeseries")
    lines = {t["name"]: t for t in data if t.get("mode") == "lines+markers"}
    assert set(lines) == {"Denmark", "Region Nordjylland", "Region Hovedstaden"}
    # National week 1 uses the newest issue (15 per 1,000), not the first (10).
    assert lines["Denmark"]["y"] == pytest.approx([15.0, 20.0, 30.0])
    assert lines["Denmark"]["x"] == [WEEK1.isoformat(), WEEK2.isoformat(), WEEK3.isoformat()]
    hover = lines["Denmark"]["hovertext"][1]
    assert "20.0 per 1,000" in hover and "16.0–26.0" in hover and "5\u202f000 active participants" in hover
    # The suppressed week is a gap, with a marker whose hover text gives the reason.
    assert lines["Region Nordjylland"]["y"][:2] == pytest.approx([4.0, 5.0])
    assert lines["Region Nordjylland"]["y"][2] is None
    markers = [t for t in data if t.get("mode") == "markers"]
    assert len(markers) == 1 and markers[0]["x"] == [WEEK3.isoformat()]
    assert "privacy" in markers[0]["hovertext"][0] and "2026-W04" in markers[0]["hovertext"][0]
    assert "400 active participants" in markers[0]["hovertext"][0]
    bands = [t for t in data if t.get("fill") == "toself"]
    assert len(bands) == 3
    assert max(bands[0]["y"]) == pytest.approx(39.0) and min(bands[0]["y"]) == pytest.approx(12.0)
    # The week range narrows the series.
    narrow = traces(call(client, "timeseries.figure", state(
        definition="covid.ecdc", method="w0", measure="crude", week_from=WEEK2.isoformat(),
        week_to=WEEK3.isoformat(), week=WEEK3.isoformat())), "timeseries")
    assert next(t for t in narrow if t.get("mode") == "lines+markers")["y"] == pytest.approx([20.0, 30.0])


def test_standardised_trend_and_map(staff_client: Client, published_details: None) -> None:
    client = staff_client("epidemiologist")
    values = state(definition="covid.ecdc", method="w0", measure="standardised", week_from=WEEK1.isoformat(),
                   week_to=WEEK3.isoformat(), week=WEEK3.isoformat())
    figure = response_of(call(client, "timeseries.figure", values))["timeseries"]["figure"]
    line = next(t for t in figure["data"] if t.get("mode") == "lines+markers")
    assert line["y"] == pytest.approx([11.0, 22.0, 33.0])
    assert "age-standardised" in figure["layout"]["title"]["text"]
    crude = traces(call(client, "timeseries.figure", {**values, "measure.value": "crude"}), "timeseries")
    assert next(t for t in crude if t.get("mode") == "lines+markers")["y"] == pytest.approx([10.0, 20.0, 30.0])
    # Region Hovedstaden has no standardised figure for week 3: on the map it is withheld, with the reason.
    regions = traces(call(client, "map.figure", values), "map")
    assert len(regions) == 1 and "no age-standardised estimate" in " ".join(regions[0]["text"])


def test_map_for_a_week_with_a_suppressed_region(staff_client: Client, published: None) -> None:
    client = staff_client("admin")
    values = state(definition="covid.ecdc", method="w0", measure="crude", week=WEEK3.isoformat())
    figure = response_of(call(client, "map.figure", values))["map"]["figure"]
    coloured, grey = figure["data"]
    assert coloured["type"] == grey["type"] == "choropleth"
    assert coloured["locations"] == ["1082", "1083", "1084", "1085"]
    assert coloured["z"] == pytest.approx([10.0, 14.0, 18.0, 22.0])
    assert "1\u202f000 active participants" in coloured["text"][0]
    assert grey["locations"] == ["1081"] and grey["showscale"] is False and "privacy" in grey["text"][0]
    assert figure["layout"]["geo"]["fitbounds"] == "locations"
    assert "Made with Natural Earth" in figure["layout"]["annotations"][0]["text"]
    assert "2026-W04" in figure["layout"]["title"]["text"]
    week1 = traces(call(client, "map.figure", {**values, "week.value": WEEK1.isoformat()}), "map")
    assert len(week1) == 1 and week1[0]["z"] == pytest.approx([4.0, 8.0, 12.0, 16.0, 20.0])


def test_breakdown_by_age_band_and_sex(staff_client: Client, published_details: None) -> None:
    client = staff_client("epidemiologist")
    figure = response_of(call(client, "breakdown.figure", state(
        definition="covid.ecdc", method="w0", week=WEEK3.isoformat(), area="1084")))["breakdown"]["figure"]
    bars = {t["name"]: t for t in figure["data"] if t["type"] == "bar"}
    assert set(bars) == {"both sexes", "women", "men"}
    assert bars["women"]["x"] == ["0-20", "21-64", "65+"]
    assert bars["women"]["y"] == pytest.approx([6.0, 11.0, 16.0])
    assert bars["both sexes"]["x"] == ["all ages", "0-20", "21-64", "65+"]
    assert bars["men"]["x"] == ["0-20", "21-64"]  # 65+ men suppressed
    withheld = next(t for t in figure["data"] if t["type"] == "scatter")
    assert withheld["x"] == ["65+"] and "privacy" in withheld["hovertext"][0]
    assert "Region Hovedstaden, week 2026-W04" in figure["layout"]["title"]["text"]
    assert "800 active participants" in bars["women"]["hovertext"][0]
    other_area = response_of(call(client, "breakdown.figure", state(
        definition="covid.ecdc", method="w0", week=WEEK3.isoformat(), area="1082")))["breakdown"]["figure"]
    assert other_area["data"] == [] and "No published" in other_area["layout"]["annotations"][0]["text"]


def test_participation(staff_client: Client, published_details: None) -> None:
    client = staff_client("authority")
    data = traces(call(client, "participation.figure", state(
        area="DK", week_from=WEEK2.isoformat(), week_to=WEEK3.isoformat())), "participation")
    new, active, rate = data
    assert new["type"] == "bar" and new["y"] == [110, 120]
    assert active["y"] == [5100, 5200]
    assert rate["y"] == pytest.approx([61.0, 62.0]) and rate["yaxis"] == "y2"
    assert "response rate 62.0 %" in active["hovertext"][1] and "120 new sign-ups" in active["hovertext"][1]


def test_dashboard_in_danish(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    client.get("/dashboard/?lang=da")
    layout = client.get("/dashboard/_dash-layout").get_data(as_text=True)
    assert "Download CSV" not in layout and "Hent CSV" in layout
    result = response_of(call(client, "url.search", {"url.search": "", **state()}, changed=[]))
    labels = [o["label"] for o in result["definition"]["options"]]
    assert "COVID-19-casedefinition (ECDC)" in labels  # the definition's Danish label from the database
    figure = response_of(call(client, "map.figure", state(definition="covid.ecdc", method="w0", measure="crude",
                                                           week=WEEK3.isoformat())))["map"]["figure"]
    assert "uge 2026-W04" in figure["layout"]["title"]["text"]


# --- download, roles, CSRF, errors ------------------------------------------------------------------------

def test_csv_download_of_what_is_shown_is_audited(app: Flask, staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    with app.app_context():  # the audit log is append-only and outlives each test: look only at what follows
        before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    values = {**{f"csv-{n}.n_clicks": 0 for n in ("timeseries", "map", "breakdown", "participation")},
              **state(definition="covid.ecdc", method="w0", measure="crude", regions=["1084"],
                      week_from=WEEK2.isoformat(), week_to=WEEK3.isoformat(), week=WEEK3.isoformat(), area="DK"),
              "csv-timeseries.n_clicks": 1}
    result = response_of(call(client, "download.data", values, changed=["csv-timeseries.n_clicks"]))
    download = result["download"]["data"]
    assert download["filename"] == "covidmeter-timeseries-covid.ecdc-2026-01-19.csv"
    rows = list(csv.DictReader(io.StringIO(download["content"])))
    assert {(r["geo_code"], r["week"]) for r in rows} == {("DK", "2026-W03"), ("DK", "2026-W04"),
                                                           ("1084", "2026-W03"), ("1084", "2026-W04")}
    assert rows[0]["time_value"] in {"202603", "202604"}  # the Delphi columns come along
    map_values = {**values, "csv-timeseries.n_clicks": 1, "csv-map.n_clicks": 1}
    map_rows = list(csv.DictReader(io.StringIO(response_of(call(
        client, "download.data", map_values, changed=["csv-map.n_clicks"]))["download"]["data"]["content"])))
    assert len(map_rows) == 5 and {r["week"] for r in map_rows} == {"2026-W04"}
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "dashboard.download",
                                                                  AuditEvent.id > before)
                                         .order_by(AuditEvent.id)))
    assert [e.detail["figure"] for e in events] == ["timeseries", "map"]
    assert all(e.actor_kind == "staff" for e in events)


def test_callbacks_are_closed_to_others(app: Flask, staff_client: Client, published: None) -> None:
    from tests.dashboard.test_access import citizen_client

    staff = staff_client("epidemiologist")
    values = state(definition="covid.ecdc", method="w0", measure="crude", week=WEEK3.isoformat())
    for outsider in (app.test_client(), citizen_client(app)):
        for output in ("map.figure", "url.search", "download.data"):
            response = call(outsider, output, values, dependencies_from=staff)
            assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert call(staff, "map.figure", values).status_code == 200


def test_callbacks_check_the_role_themselves(app: Flask) -> None:
    """Defence in depth: even without the prefix rule, a callback refuses a principal that is not staff."""
    from werkzeug.exceptions import Forbidden

    from dashboard.app import _require_role
    from reporting.security import Principal, set_principal

    with app.test_request_context("/dashboard/_dash-update-component", method="POST"):
        set_principal(Principal("citizen", account_id=1))
        with pytest.raises(Forbidden):
            _require_role()
        set_principal(Principal("token", token_id=1, scopes=frozenset({"export:read"})))
        with pytest.raises(Forbidden):
            _require_role()
        set_principal(Principal("staff", staff_user_id=1, role="authority"))
        _require_role()


def test_callback_error_is_a_problem_without_trace(staff_client: Client) -> None:
    client = staff_client("epidemiologist")
    for body in ({"output": "nope.figure"}, {"output": "nope.figure", "outputs": {}, "inputs": []}, [], "x"):
        response = client.post("/dashboard/_dash-update-component", json=body)
        assert response.status_code == 400  # the caller's mistake, never a server error
        assert response.mimetype == "application/problem+json"
        assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/dashboard/_dash-component-suites/nope/x.js").status_code == 404


def test_callback_without_csrf_header_is_refused(app: Flask, make_staff: Callable[..., str],
                                                 published: None) -> None:
    from tests.reporting.staff import totp_code

    app.config["WTF_CSRF_ENABLED"] = True
    email = make_staff("epidemiologist", "csrf@example.org")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/staff/login", data={"email": email, "password": "correct horse battery staple",
                                             "csrf_token": token}).status_code == 302
    code_page = client.get("/staff/login/code").get_data(as_text=True)
    token = code_page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/staff/login/code", data={"code": totp_code(email), "csrf_token": token}).status_code == 302
    values = state(definition="covid.ecdc", method="w0", measure="crude", week=WEEK3.isoformat())
    refused = call(client, "map.figure", values)
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    assert "CSRF" in refused.get_json()["title"]
    assert call(client, "map.figure", values, **{"X-CSRFToken": "forged"}).status_code == 400
    client.get("/dashboard/")  # sets the cookie the renderer reads
    cookie = client.get_cookie("_csrf_token", path="/dashboard/")
    assert cookie is not None
    assert call(client, "map.figure", values, **{"X-CSRFToken": cookie.value}).status_code == 200


def test_figures_are_cached_until_the_aggregates_change(app: Flask, staff_client: Client,
                                                        publish: Callable[..., None], published: None) -> None:
    from reporting.aggregates_version import bump_aggregates_version

    client = staff_client("epidemiologist")
    cache = app.extensions["covidmeter.figure_cache"]
    values = state(definition="covid.ecdc", method="w0", measure="crude", week=WEEK3.isoformat())
    first = traces(call(client, "map.figure", values), "map")
    misses = cache.misses
    assert traces(call(client, "map.figure", values), "map") == first
    assert cache.misses == misses and cache.hits > 0  # the second answer came from the cache
    # A new issue for Region Nordjylland (the scheduler's insert changes the version): the map follows.
    publish([estimate(WEEK3, "1081", incidence=0.009, lower=0.006, upper=0.012, issue=WEEK3 + __import__(
        "datetime").timedelta(days=20))])
    after = traces(call(client, "map.figure", values), "map")
    assert len(after) == 1 and "1081" in after[0]["locations"]
    # An update in place is noticed once the job bumps the version.
    with app.app_context():
        from reporting.models import IncidenceEstimate

        row = db.session.scalars(select(IncidenceEstimate).where(IncidenceEstimate.geo_code == "1082",
                                                                 IncidenceEstimate.week == WEEK3)).one()
        row.incidence = 0.05
        db.session.commit()
    assert traces(call(client, "map.figure", values), "map")[0]["z"][1] != pytest.approx(50.0)  # cached
    with app.app_context():
        with db.engine.begin() as connection:
            bump_aggregates_version(connection)
    assert traces(call(client, "map.figure", values), "map")[0]["z"][1] == pytest.approx(50.0)
