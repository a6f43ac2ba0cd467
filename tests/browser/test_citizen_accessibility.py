"""Accessibility of every citizen page in Debian's Chromium: axe-core finds no serious or critical
violation, nothing is wider than a 360 px phone, and the weekly report can be given by keyboard alone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import Account, IncidenceEstimate, WeeklyReport
from reporting.reminders import send_due_reminders
from reporting.reports import service as reports

from .citizen_pages import check_page, sign_up

pytestmark = pytest.mark.browser


def publish_region_figures(live: Any) -> None:
    """A few published weeks for Region Midtjylland, so the history page shows its table."""
    with live.app.app_context():
        monday = reports.current_week()
        for n, share in enumerate((0.03, 0.05, 0.04)):
            week = monday - dt.timedelta(weeks=3 - n)
            db.session.add(IncidenceEstimate(
                week=week, geo_type="region", geo_code="1082", age_band="all", sex="all",
                definition_key="covid.ecdc", definition_version=1, method="w0", active=800, cases=int(800 * share),
                incidence=share, lower_95=share * 0.8, upper_95=share * 1.2, missing_reason=0,
                issue=week + dt.timedelta(days=7)))
        db.session.commit()


def test_every_citizen_page_passes_axe_and_fits_a_phone(live_server: Callable[..., Any], page: Any) -> None:
    live = live_server()
    url = live.url
    problems: list[str] = []
    for lang in ("da", "en"):
        for path in ("/", "/signup", "/login", "/login/sent", "/signup/sent", "/login/link/unknown",
                     "/week/unknown", "/withdrawn"):
            page.goto(f"{url}{path}?lang={lang}")
            check_page(page, f"{path} ({lang})", problems)
    page.goto(f"{url}/signup?lang=en")
    page.get_by_role("button", name="Sign up").click()  # errors shown
    expect(page.locator("#error-summary")).to_be_visible()
    check_page(page, "sign-up with errors", problems)

    sign_up(page, url, "axe@example.dk")
    publish_region_figures(live)
    page.goto(f"{url}/dev/outbox")
    confirm_link = page.locator("a[href*='/signup/confirm/']").first.get_attribute("href")
    page.context.clear_cookies()
    page.goto(f"{url}/login?lang=en")
    page.get_by_label("E-mail address").fill("axe@example.dk")
    page.get_by_role("button", name="Send login link").click()
    page.goto(f"{url}/dev/outbox")
    page.goto(page.locator("a[href*='/login/link/']").first.get_attribute("href"))
    check_page(page, "link confirmation", problems)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/me")
    page.goto(confirm_link)  # used: the invalid-link page
    check_page(page, "used link", problems)

    page.goto(f"{url}/me?lang=en")
    check_page(page, "overview", problems)
    profile_id = re.search(r"/report/([0-9a-f]+)", page.content()).group(1)
    page.goto(f"{url}/report/{profile_id}")
    check_page(page, "report form", problems)
    page.get_by_label("Cough", exact=True).check()
    page.get_by_role("button", name="Send report").click()  # follow-ups unanswered: errors shown
    expect(page.locator("#error-summary")).to_be_focused()
    check_page(page, "report form with errors", problems)
    page.get_by_label("No symptoms").check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url("**/thanks")
    expect(page.locator(".advice")).to_be_visible()
    check_page(page, "thanks and advice", problems)
    page.goto(f"{url}/me/history")
    expect(page.locator("table.trend")).to_be_visible()
    check_page(page, "history with the region", problems)
    page.goto(f"{url}/me/profiles/new")
    check_page(page, "add a person", problems)
    page.get_by_role("button", name="Add person").click()
    check_page(page, "add a person with errors", problems)
    page.goto(f"{url}/me/profiles/{profile_id}/edit")
    check_page(page, "edit details", problems)
    page.goto(f"{url}/me/settings")
    check_page(page, "settings", problems)
    page.get_by_label("New e-mail address").fill("not an address")
    page.get_by_role("button", name="Change e-mail address").click()
    check_page(page, "settings with an error", problems)
    page.goto(f"{url}/me/withdraw")
    check_page(page, "withdrawal confirmation", problems)

    # The weekly mail's pages, on a device that is not logged in.
    with live.app.app_context():
        account = db.session.scalar(select(Account))
        account.reminder_weekday = 0
        db.session.query(WeeklyReport).delete()
        db.session.commit()
        send_due_reminders(reports.local_today())
    page.goto(f"{url}/dev/outbox")
    week_link = re.search(r"(/week/[A-Za-z0-9_-]+)/nobody-ill", page.content()).group(1)
    unsubscribe = re.search(r"(/unsubscribe/[A-Za-z0-9_.-]+)", page.content()).group(1)
    page.context.clear_cookies()
    for path, name in ((week_link, "weekly link"), (f"{week_link}/nobody-ill", "nobody ill"),
                       (f"{week_link}/report/{profile_id}", "report by link"), (unsubscribe, "unsubscribe")):
        page.goto(f"{url}{path}?lang=da")
        check_page(page, name, problems)
    page.goto(f"{url}{week_link}/nobody-ill?lang=en")
    page.get_by_role("button", name="Yes, nobody was ill").click()
    check_page(page, "nobody ill saved", problems)
    page.goto(f"{url}{unsubscribe}")
    page.get_by_role("button", name="Stop the reminders").click()
    check_page(page, "unsubscribed", problems)
    assert problems == []
    errors = [e for e in page.errors if not e.startswith("Failed to load resource")]  # type: ignore[attr-defined]
    assert errors == []


def tab_to(page: Any, selector: str, limit: int = 250) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with Tab")


def choose_radio(page: Any, name: str, value: str) -> None:
    """Tab into a radio group, then move with the arrow keys to the option (as keyboard users do)."""
    tab_to(page, f'input[type=radio][name="{name}"]')
    for _ in range(10):
        if page.evaluate("() => document.activeElement.value") == value:
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    assert page.locator(f'input[name="{name}"][value="{value}"]').is_checked()


def test_the_weekly_report_by_keyboard_alone(live_server: Callable[..., Any], page: Any) -> None:
    live = live_server()
    sign_up(page, live.url, "tastatur@example.dk")
    page.goto(f"{live.url}/me?lang=en")
    page.locator("body").focus()
    # From here on, keys only.
    tab_to(page, "a.button[href^='/report/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/report/*")
    for symptom in ("fever", "cough"):
        tab_to(page, f'input[name="symptoms"][value="{symptom}"]')
        page.keyboard.press("Space")
    choose_radio(page, "persistent_cough", "no")
    choose_radio(page, "same_illness", "no")
    tab_to(page, "#q-symptom_start")
    today = dt.date.today()
    page.keyboard.type(today.strftime("%m%d%Y"))  # the date input's own fields (en-US: month, day, year)
    choose_radio(page, "still_ill", "yes")
    choose_radio(page, "sudden_onset", "yes")
    tab_to(page, "#q-fever_start")
    page.keyboard.type(today.strftime("%m%d%Y"))
    choose_radio(page, "fever_sudden", "yes")
    choose_radio(page, "temperature_measured", "no")
    tab_to(page, 'input[name="care"][value="no"]')
    page.keyboard.press("Space")
    choose_radio(page, "tested", "no")
    choose_radio(page, "flu_tested", "no")
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/thanks")
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you for your report"
    with live.app.app_context():
        (report,) = db.session.scalars(select(WeeklyReport)).all()
        assert report.fever and report.cough and report.persistent_cough is False
        assert report.symptom_start == today and report.fever_start == today and report.still_ill is True
        assert report.temperature_measured is False and report.highest_temperature is None
