"""The staff dashboard in Debian's Chromium: sign in, see the time series and the map, change the controls.

CSRF is on (the live server's default), so every Dash callback the page makes proves that the renderer sends
the ``_csrf_token`` cookie back as ``X-CSRFToken``; the console must show no CSP violation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from reporting.extensions import db
from reporting.models import IncidenceEstimate
from reporting.staff.service import create_staff_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
FIRST_WEEK = dt.date(2025, 10, 6)
WEEKS = [FIRST_WEEK + dt.timedelta(weeks=i) for i in range(16)]
REGIONS = ("1081", "1082", "1083", "1084", "1085")


def _estimates() -> list[IncidenceEstimate]:
    rows = []
    for definition, method, scale in (("covid.ecdc", "w0", 1.0), ("ili.ecdc", "w1_s2_if2_ex", 0.3)):
        for i, week in enumerate(WEEKS):
            season = 0.008 + 0.03 * max(0.0, 1 - abs(i - 9) / 7)
            for j, code in enumerate(("DK", *REGIONS)):
                rate = scale * season * (1 + 0.15 * (j - 2))
                suppressed = code == "1081" and i in (12, 15)
                rows.append(IncidenceEstimate(
                    week=week, geo_type="nation" if code == "DK" else "region", geo_code=code, age_band="all",
                    sex="all", definition_key=definition, definition_version=1, method=method,
                    active=6000 if code == "DK" else 1200, cases=None if suppressed else round(rate * 1200),
                    incidence=None if suppressed else rate, lower_95=None if suppressed else rate * 0.75,
                    upper_95=None if suppressed else rate * 1.3, missing_reason=3 if suppressed else 0,
                    issue=week + dt.timedelta(days=8)))
    return rows


def _console_problems(page: Any) -> list[str]:
    """Console errors, less the 404 of the browser's automatic /favicon.ico request on the sign-in page."""
    return [e for e in page.errors if e != "Failed to load resource: the server responded with a status of 404 "
                                           "(NOT FOUND)"]


def test_staff_dashboard_renders_and_reacts(live_server: Callable[..., Any], page: Any) -> None:
    server = live_server()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400
            and "/favicon.ico" not in r.url else None)
    with server.app.app_context():
        create_staff_user("epi@example.org", "epidemiologist", PASSWORD)
        db.session.add_all(_estimates())
        db.session.commit()

    page.goto(f"{server.url}/dashboard/?lang=en")
    assert "/staff/login" in page.url  # not signed in: sent to the sign-in page, and back afterwards
    page.fill("#email", "epi@example.org")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/dashboard/?lang=en")

    page.wait_for_selector("#timeseries .js-plotly-plot .scatterlayer .trace", timeout=20_000)
    page.wait_for_selector("#map .js-plotly-plot .choroplethlayer path", timeout=20_000)
    assert page.locator("#map .choroplethlayer path").count() >= 5
    assert "2026-W04" in page.locator("#map .gtitle").text_content()
    assert "Made with Natural Earth" in page.locator("#map").text_content()
    assert page.locator("#timeseries .scatterlayer .trace").count() >= 2  # band and line
    page.screenshot(path="/tmp/dashboard-initial.png", full_page=True)
    title = page.locator("#timeseries .gtitle").text_content()
    assert "COVID-19 case definition" in title

    # Another case definition: the time series title and data change.
    page.click("#definition")
    page.get_by_text("Influenza-like illness (ECDC)", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#timeseries .gtitle')?.textContent.includes('Influenza-like')",
        timeout=20_000)

    # Another week: the map title follows.
    page.click("#week")
    page.get_by_text("2025-W50", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#map .gtitle')?.textContent.includes('2025-W50')", timeout=20_000)

    # Regions in the time series.
    page.click("#regions")
    page.get_by_text("Region Hovedstaden", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#timeseries .legendtext')].some(e => e.textContent.includes('Hovedstaden'))",
        timeout=20_000)

    page.wait_for_timeout(500)
    page.screenshot(path="/tmp/dashboard.png", full_page=True)
    assert _console_problems(page) == []  # no CSP violation, no script error
    assert failed == []  # every asset, layout and callback (CSRF header included) was accepted
