"""The staff dashboard in Debian's Chromium: sign in with password and TOTP, see the four figures, change
the controls and see the figures change, share the view by its URL, download a CSV, pass axe-core, use the
keyboard.

CSRF is on (the live server's default), so every Dash callback the page makes proves that the renderer sends
the ``_csrf_token`` cookie back as ``X-CSRFToken``; the console must show no CSP violation.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from reporting.extensions import db
from reporting.models import IncidenceEstimate, ParticipationEstimate, utcnow
from reporting.staff.service import create_staff_user
from scheduler.incidence.estimates import FINAL_AFTER_DAYS, is_final

from .staff_pages import axe_violations, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
FIRST_WEEK = dt.date(2025, 10, 6)
WEEKS = [FIRST_WEEK + dt.timedelta(weeks=i) for i in range(16)]
REGIONS = ("1081", "1082", "1083", "1084", "1085")
BANDS = ("0-20", "21-64", "65+")
RUN = WEEKS[-1] + dt.timedelta(days=4)  # the scheduler ran on the newest week's Friday: the last two weeks are
NEWEST_FINAL = "2026-W02"               # provisional (one still in progress), the dashboard opens on this one


def _issue(week: dt.date) -> dt.date:
    return RUN if week >= WEEKS[-2] else week + dt.timedelta(days=FINAL_AFTER_DAYS)


def _estimates() -> list[Any]:
    rows: list[Any] = []
    for definition, method, scale in (("covid.ecdc", "w0", 1.0), ("ili.ecdc", "w1_s2_if2_ex", 0.3)):
        for i, week in enumerate(WEEKS):
            season = 0.008 + 0.03 * max(0.0, 1 - abs(i - 9) / 7)
            for j, code in enumerate(("DK", *REGIONS)):
                for band in ("all", *BANDS):
                    for sex in ("all", "female", "male"):
                        if (band != "all" or sex != "all") and code not in ("DK", "1084"):
                            continue
                        factor = (1 + 0.15 * (j - 2)) * (1 + 0.2 * BANDS.index(band) if band != "all" else 1)
                        rate = scale * season * factor
                        suppressed = code == "1081" and i in (12, 15)
                        rows.append(IncidenceEstimate(
                            week=week, geo_type="nation" if code == "DK" else "region", geo_code=code,
                            age_band=band, sex=sex, definition_key=definition, definition_version=1, method=method,
                            active=6000 if code == "DK" else 1200, cases=None if suppressed else round(rate * 1200),
                            incidence=None if suppressed else rate, lower_95=None if suppressed else rate * 0.75,
                            upper_95=None if suppressed else rate * 1.3, missing_reason=3 if suppressed else 0,
                            standardised_incidence=None if suppressed or band != "all" or sex != "all" else rate * 1.1,
                            standardised_lower_95=None if suppressed or band != "all" else rate * 0.8,
                            standardised_upper_95=None if suppressed or band != "all" else rate * 1.4,
                            issue=_issue(week), final=is_final(week, _issue(week))))
    for i, week in enumerate(WEEKS):
        for code in ("DK", *REGIONS):
            rows.append(ParticipationEstimate(week=week, geo_type="nation" if code == "DK" else "region",
                                              geo_code=code, registered=9000, active=6000 + 50 * i,
                                              new_profiles=200 - 5 * i, response_rate=(6000 + 50 * i) / 9000,
                                              missing_reason=0, issue=_issue(week)))
    return rows


def _console_problems(page: Any) -> list[str]:
    """Console errors, less the 404 of the browser's automatic /favicon.ico request on the sign-in page."""
    return [e for e in page.errors if e != "Failed to load resource: the server responded with a status of 404 "
                                           "(NOT FOUND)"]


def _wait_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent.includes(t)", arg=[selector, text], timeout=20_000)


def test_staff_dashboard_renders_reacts_and_downloads(live_server: Callable[..., Any], page: Any) -> None:
    server = live_server()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400
            and "/favicon.ico" not in r.url else None)
    secret = pyotp.random_base32()
    with server.app.app_context():
        user, _ = create_staff_user("epi@example.org", "epidemiologist", PASSWORD)
        user.totp_secret, user.totp_confirmed_at = secret, utcnow()
        db.session.add_all(_estimates())
        db.session.commit()

    page.goto(f"{server.url}/dashboard/?lang=en")
    assert "/staff/login" in page.url  # not signed in: sent to the sign-in page, and back afterwards
    sign_in(page, "epi@example.org", PASSWORD, secret)
    page.wait_for_url(f"{server.url}/dashboard/?lang=en*")

    for selector in ("#timeseries .scatterlayer .trace", "#breakdown .barlayer .trace",
                     "#participation .scatterlayer .trace"):
        page.wait_for_selector(selector, timeout=20_000)
    page.wait_for_selector("#map .js-plotly-plot .choroplethlayer path", timeout=20_000)
    assert page.locator("#map .choroplethlayer path").count() >= 5
    _wait_text(page, "#map .gtitle", NEWEST_FINAL)
    assert "Made with Natural Earth" in page.locator("#map").text_content()
    assert "COVID-19 case definition" in page.locator("#timeseries .gtitle").text_content()
    assert f"Denmark, week {NEWEST_FINAL}" in page.locator("#breakdown .gtitle").text_content()
    assert "provisional" not in page.locator("#map .gtitle").text_content()
    # The two provisional weeks: their own legend entry, a dashed line.
    assert "Denmark, provisional" in page.locator("#timeseries .legend").text_content()
    assert page.locator("#timeseries .scatterlayer .js-line[style*='stroke-dasharray']").count() >= 1
    # The state is in the URL.
    page.wait_for_function("() => location.search.includes('definition=covid.ecdc')", timeout=20_000)
    assert f"week={NEWEST_FINAL}" in page.url
    assert axe_violations(page) == []

    # Another case definition: the trend changes, and the URL follows.
    page.click("#definition")
    page.get_by_text("Influenza-like illness (ECDC)", exact=True).click()
    _wait_text(page, "#timeseries .gtitle", "Influenza-like")
    page.wait_for_function("() => location.search.includes('definition=ili.ecdc')", timeout=20_000)

    # Another week for the map, with the keyboard only: focus the week control, open it, pick with the arrows.
    page.focus("#week")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector("[role=listbox]", timeout=10_000)
    focused = "() => document.activeElement?.value || ''"
    for _ in range(20):  # newest first: arrow down until 2025-W50 (Monday 2025-12-08) has the focus
        if page.evaluate(focused) == "2025-12-08":
            break
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(60)
    assert page.evaluate(focused) == "2025-12-08"
    page.keyboard.press("Enter")
    _wait_text(page, "#map .gtitle", "2025-W50")
    _wait_text(page, "#breakdown .gtitle", "2025-W50")

    # Age-standardised: the trend's title says so.
    page.click("#measure")
    page.get_by_text("age-standardised", exact=True).first.click()
    _wait_text(page, "#timeseries .gtitle", "age-standardised")

    # Regions in the trend.
    page.click("#regions")
    page.get_by_text("Region Hovedstaden", exact=True).first.click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#timeseries .legendtext')].some(e => e.textContent.includes('Hovedstaden'))",
        timeout=20_000)
    page.wait_for_function("() => location.search.includes('regions=1084')", timeout=20_000)
    shared = page.url

    # Download what the trend shows as CSV.
    with page.expect_download() as download_info:
        page.click("#csv-timeseries")
    download = download_info.value
    assert download.suggested_filename.startswith("covidmeter-timeseries-ili.ecdc")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert {r["geo_code"] for r in rows} == {"DK", "1084"} and {r["definition"] for r in rows} == {"ili.ecdc"}
    # And as an image.
    with page.expect_download() as image_info:
        page.click("#image-map")
    assert image_info.value.suggested_filename == "covidmeter-map.png"

    # The shared link opens the same view in a fresh page.
    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector("#timeseries .scatterlayer .trace", timeout=20_000)
    _wait_text(other, "#timeseries .gtitle", "Influenza-like")
    _wait_text(other, "#map .gtitle", "2025-W50")
    other.close()

    # Every control can be reached with the Tab key.
    page.focus(".dashboard-nav a[lang]")  # the language link, just before the controls
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.closest('[id]')?.id"))
    assert {"definition", "method", "measure", "week_from", "week_to", "week", "regions", "area"} <= reached, reached
    assert {"csv-timeseries", "image-timeseries"} & reached or len(reached) > 7

    page.screenshot(path="/tmp/dashboard.png", full_page=True)
    assert _console_problems(page) == []  # no CSP violation, no script error
    assert failed == []  # every asset, layout and callback (CSRF header included) was accepted


def test_dashboard_in_danish(live_server: Callable[..., Any], page: Any) -> None:
    server = live_server()
    secret = pyotp.random_base32()
    with server.app.app_context():
        user, _ = create_staff_user("auth@example.org", "authority", PASSWORD)
        user.totp_secret, user.totp_confirmed_at = secret, utcnow()
        db.session.add_all(_estimates())
        db.session.commit()
    page.goto(f"{server.url}/staff/login?lang=da")
    sign_in(page, "auth@example.org", PASSWORD, secret)
    page.goto(f"{server.url}/dashboard/?lang=da")
    page.wait_for_selector("#map .js-plotly-plot .choroplethlayer path", timeout=20_000)
    _wait_text(page, "#map .gtitle", f"uge {NEWEST_FINAL}")
    _wait_text(page, "#timeseries .legend", "Danmark, foreløbig")
    assert page.locator("html").get_attribute("lang") == "da"
    assert "Hent CSV" in page.locator("#csv-map").text_content()
    assert axe_violations(page) == []
