"""The Dash app through the test client, as the browser's renderer talks to it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.dashboard.conftest import WEEK1, WEEK2, WEEK3

Client = Callable[[str], FlaskClient]


def call(client: FlaskClient, output: str, values: dict[str, Any], **headers: str) -> Any:
    """POST /dashboard/_dash-update-component with the body Dash's renderer builds from the dependencies."""
    dependencies = client.get("/dashboard/_dash-dependencies").get_json()
    dependency = next(d for d in dependencies if d["output"] == output)

    def spec(item: dict[str, str]) -> dict[str, Any]:
        return {**item, "value": values.get(f"{item['id']}.{item['property']}")}

    outputs = [dict(zip(("id", "property"), part.split("."))) for part in output.strip(".").split("...")]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [spec(i) for i in dependency["inputs"]],
        "state": [spec(s) for s in dependency["state"]],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in dependency["inputs"]],
    }
    return client.post("/dashboard/_dash-update-component", json=body, headers=headers)


def traces(response: Any, component: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"][component]["figure"]["data"]


def test_one_dash_instance_per_app_with_callbacks_on_it(app: Flask) -> None:
    from wsgi import create_app

    dash_app = app.extensions["covidmeter.dash"]
    assert dash_app.server is app
    assert len(dash_app.callback_map) == 3
    other = create_app(dict(app.config))
    assert other.extensions["covidmeter.dash"] is not dash_app
    assert len(other.extensions["covidmeter.dash"].callback_map) == 3


def test_index_layout_and_security_headers(staff_client: Client) -> None:
    client = staff_client("epidemiologist")
    index = client.get("/dashboard/")
    assert index.status_code == 200 and index.mimetype == "text/html"
    csp = index.headers["Content-Security-Policy"]
    html = index.get_data(as_text=True)
    assert html.startswith("<!DOCTYPE html>\n<html lang=")
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert inline, "Dash's renderer script should be inline"
    import base64
    import hashlib

    for script in inline:  # every inline script is allowed by hash, and nothing else inline is
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "_csrf_token=" in index.headers["Set-Cookie"] and "SameSite=Strict" in index.headers["Set-Cookie"]
    layout = client.get("/dashboard/_dash-layout")
    assert layout.status_code == 200
    text = layout.get_data(as_text=True)
    assert "covid.ecdc" in text and "Region Hovedstaden" in text and "csrf_token" in text
    assert client.get("/dashboard/assets/europe_50m.json").status_code == 200
    assert client.get("/dashboard/assets/dashboard.css").status_code == 200


def test_week_control_lists_published_weeks_newest_first(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    response = call(client, "..week.options...week.value...definition-description.children..",
                    {"definition.value": "covid.ecdc", "week.value": None})
    assert response.status_code == 200
    result = response.get_json()["response"]
    assert [o["label"] for o in result["week"]["options"]] == ["2026-W04", "2026-W03", "2026-W02"]
    assert result["week"]["value"] == WEEK3.isoformat()
    assert "Cough OR fever" in result["definition-description"]["children"]
    other = call(client, "..week.options...week.value...definition-description.children..",
                 {"definition.value": "ili.ecdc", "week.value": WEEK3.isoformat()})
    result = other.get_json()["response"]
    assert [o["label"] for o in result["week"]["options"]] == ["2026-W02"]
    assert result["week"]["value"] == WEEK1.isoformat()  # the old choice is not published for ili.ecdc


def test_time_series_from_published_estimates(staff_client: Client, published: None) -> None:
    client = staff_client("authority")
    data = traces(call(client, "timeseries.figure", {
        "definition.value": "covid.ecdc", "regions.value": ["1081", "1084"], "week.value": WEEK2.isoformat()}),
        "timeseries")
    lines = {t["name"]: t for t in data if t.get("mode") == "lines+markers"}
    assert set(lines) == {"Denmark", "Region Nordjylland", "Region Hovedstaden"}
    # National week 1 uses the newest issue (15 per 1,000), not the first (10).
    assert lines["Denmark"]["y"] == pytest.approx([15.0, 20.0, 30.0])
    assert lines["Denmark"]["x"] == [WEEK1.isoformat(), WEEK2.isoformat(), WEEK3.isoformat()]
    # The suppressed week is a gap, with a marker whose hover text gives the reason.
    assert lines["Region Nordjylland"]["y"][:2] == pytest.approx([4.0, 5.0])
    assert lines["Region Nordjylland"]["y"][2] is None
    markers = [t for t in data if t.get("mode") == "markers"]
    assert len(markers) == 1 and markers[0]["x"] == [WEEK3.isoformat()]
    assert "privacy" in markers[0]["hovertext"][0] and "2026-W04" in markers[0]["hovertext"][0]
    bands = [t for t in data if t.get("fill") == "toself"]
    assert len(bands) == 3
    denmark_band = bands[0]
    assert max(denmark_band["y"]) == pytest.approx(39.0) and min(denmark_band["y"]) == pytest.approx(12.0)


def test_time_series_changes_with_the_definition(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    client.get("/dashboard/?lang=en")
    data = traces(call(client, "timeseries.figure", {
        "definition.value": "ili.ecdc", "regions.value": [], "week.value": WEEK1.isoformat()}), "timeseries")
    line = next(t for t in data if t.get("mode") == "lines+markers")
    assert line["y"] == pytest.approx([3.0])
    assert "Influenza-like illness" in call(client, "timeseries.figure", {
        "definition.value": "ili.ecdc", "regions.value": [], "week.value": None}).get_data(as_text=True)


def test_map_for_a_week_with_a_suppressed_region(staff_client: Client, published: None) -> None:
    client = staff_client("admin")
    data = traces(call(client, "map.figure", {"definition.value": "covid.ecdc", "week.value": WEEK3.isoformat()}),
                  "map")
    coloured, grey = data
    assert coloured["type"] == grey["type"] == "choropleth"
    assert coloured["featureidkey"] == "properties.code"
    assert coloured["locations"] == ["1082", "1083", "1084", "1085"]
    assert coloured["z"] == pytest.approx([10.0, 14.0, 18.0, 22.0])
    assert grey["locations"] == ["1081"] and grey["showscale"] is False
    assert "privacy" in grey["text"][0]
    figure = call(client, "map.figure", {"definition.value": "covid.ecdc", "week.value": WEEK3.isoformat()}
                  ).get_json()["response"]["map"]["figure"]
    assert figure["layout"]["geo"]["fitbounds"] == "locations"
    assert "Made with Natural Earth" in figure["layout"]["annotations"][0]["text"]
    assert "2026-W04" in figure["layout"]["title"]["text"]
    week1 = traces(call(client, "map.figure", {"definition.value": "covid.ecdc", "week.value": WEEK1.isoformat()}),
                   "map")
    assert len(week1) == 1 and week1[0]["z"] == pytest.approx([4.0, 8.0, 12.0, 16.0, 20.0])


def test_map_without_estimates_shows_regions_grey(staff_client: Client) -> None:
    client = staff_client("epidemiologist")
    data = traces(call(client, "map.figure", {"definition.value": "cli", "week.value": WEEK1.isoformat()}), "map")
    assert len(data) == 1 and data[0]["locations"] == ["1081", "1082", "1083", "1084", "1085"]
    assert all("no estimate" in text for text in data[0]["text"])


def test_dashboard_in_danish(staff_client: Client, published: None) -> None:
    client = staff_client("epidemiologist")
    client.get("/dashboard/?lang=da")
    layout = client.get("/dashboard/_dash-layout").get_data(as_text=True)
    assert "COVID-19-casedefinition (ECDC)" in layout  # the definition's Danish label from the database


def test_callback_error_is_a_problem_without_trace(staff_client: Client) -> None:
    client = staff_client("epidemiologist")
    response = client.post("/dashboard/_dash-update-component", json={"output": "nope.figure"})
    assert response.status_code in {400, 500}
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)


def test_callback_without_csrf_header_is_refused(app: Flask, staff_client: Client, published: None) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = staff_client_with_csrf(app)
    values = {"definition.value": "covid.ecdc", "week.value": WEEK3.isoformat()}
    refused = call(client, "map.figure", values)
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    assert "CSRF" in refused.get_json()["title"]
    assert call(client, "map.figure", values, **{"X-CSRFToken": "forged"}).status_code == 400
    client.get("/dashboard/")  # sets the cookie the renderer reads
    cookie = client.get_cookie("_csrf_token", path="/dashboard/")
    assert cookie is not None
    accepted = call(client, "map.figure", values, **{"X-CSRFToken": cookie.value})
    assert accepted.status_code == 200


def staff_client_with_csrf(app: Flask) -> FlaskClient:
    """Sign in through the real form, CSRF token included."""
    from reporting.staff.service import create_staff_user
    from tests.dashboard.conftest import PASSWORD, sign_in

    with app.app_context():
        create_staff_user("csrf@example.org", "epidemiologist", PASSWORD)
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert sign_in(client, "csrf@example.org", csrf_token=token).status_code == 302
    return client
