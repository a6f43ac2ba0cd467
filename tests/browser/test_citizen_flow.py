"""A citizen in Debian's Chromium: sign up in Danish, follow the mailed link from the development outbox,
confirm, report symptoms with the follow-up questions, see the thank-you page; then, in English, change
the report after a validation error. CSRF is on (the live server's default). axe-core checks the sign-up
and report pages for serious or critical accessibility violations; the console must stay free of errors
(a CSP violation is one)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import Account, LoginToken, OutboxMessage, ReportRevision, WeeklyReport

from .citizen_pages import axe_violations, fits_width

pytestmark = pytest.mark.browser

def test_sign_up_confirm_and_report(live_server: Callable[..., Any], page: Any) -> None:
    live = live_server()
    today = dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()

    # Front page in Danish, then the sign-up form.
    page.goto(f"{live.url}/?lang=da")
    assert page.locator("html").get_attribute("lang") == "da"
    page.get_by_role("link", name="Tilmeld dig").first.click()
    page.wait_for_url("**/signup")
    assert page.get_by_role("heading", level=1).inner_text() == "Tilmeld dig COVIDmeter"
    assert axe_violations(page) == []
    assert fits_width(page)

    # Submitting an empty form shows the error summary, focused, linking to the fields.
    page.get_by_role("button", name="Tilmeld dig").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()  # moved there by questionnaire.js once the page has loaded
    assert "Skriv din e-mailadresse." in summary.inner_text()
    summary.get_by_role("link", name="Vælg et svar.").first.click()
    assert axe_violations(page) == []

    page.get_by_label("E-mailadresse").fill("karen@example.dk")
    page.get_by_label("Hvilket år er du født?").fill("1975")
    page.get_by_label("Kvinde").check()
    page.get_by_label("Hvilken kommune bor du i?").select_option(label="Aarhus")
    page.get_by_label("Hvor mange personer bor i husstanden").fill("2")
    page.get_by_label("Jeg accepterer og vil gerne deltage").check()
    page.get_by_role("button", name="Tilmeld dig").click()
    page.wait_for_url("**/signup/sent")
    assert page.get_by_role("heading", level=1).inner_text() == "Tjek din e-mail"

    # The mail waits in the development outbox; its link opens a confirmation page.
    page.goto(f"{live.url}/dev/outbox")
    page.locator("a[href*='/signup/confirm/']").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Bekræft din e-mailadresse"
    with live.app.app_context():
        # Opening the link spent nothing: the account is made only when it is confirmed.
        assert db.session.scalar(select(LoginToken.used_at)) is None and db.session.scalar(select(Account.id)) is None
    page.get_by_role("button", name="Bekræft og log ind").click()
    page.wait_for_url("**/me")
    assert "Din e-mailadresse er bekræftet" in page.locator(".flash").inner_text()

    # The weekly report: follow-up questions appear only once a symptom is chosen.
    page.get_by_role("link", name="Rapportér for denne uge").click()
    page.wait_for_url("**/report/*")
    expect(page.locator("#question-symptom_start")).to_be_hidden()
    expect(page.locator("#question-fever_start")).to_be_hidden()
    page.get_by_label("Hoste", exact=True).check()
    expect(page.locator("#question-symptom_start")).to_be_visible()
    expect(page.locator("#question-fever_start")).to_be_hidden()  # only with fever
    page.get_by_label("Feber", exact=True).check()
    expect(page.locator("#question-fever_start")).to_be_visible()
    # "No symptoms" is exclusive: choosing it clears the symptoms and hides the follow-ups again.
    page.get_by_label("Ingen symptomer").check()
    assert not page.get_by_label("Hoste", exact=True).is_checked()
    expect(page.locator("#question-symptom_start")).to_be_hidden()
    page.get_by_label("Hoste", exact=True).check()
    assert not page.get_by_label("Ingen symptomer").is_checked()
    page.get_by_label("Feber", exact=True).check()

    same_illness = page.get_by_role("group", name="Er det den samme sygdom, som du rapporterede sidste gang?")
    same_illness.get_by_label("Nej").check()
    page.get_by_label("Hvornår begyndte de første symptomer?").fill((today - dt.timedelta(days=2)).isoformat())
    page.get_by_role("group", name="Er du stadig syg?").get_by_label("Ja").check()
    expect(page.locator("#question-symptom_end")).to_be_hidden()  # only when no longer ill
    page.get_by_role("group", name="Kom symptomerne pludseligt, i løbet af få timer?").get_by_label("Ja").check()
    page.get_by_label("Hvornår fik du feber?").fill((today - dt.timedelta(days=1)).isoformat())
    page.get_by_role("group", name="Kom feberen pludseligt, i løbet af få timer?").get_by_label("Ja").check()
    expect(page.locator("#question-highest_temperature")).to_be_hidden()
    page.get_by_role("group", name="Har du målt din temperatur?").get_by_label("Ja").check()
    page.get_by_label("38,0–38,9 °C").check()
    # The ZOE (Menni et al.) follow-up of cough.
    page.get_by_role("group", name=re.compile("Har du hostet meget")).get_by_label("Ja").check()
    page.get_by_role("group", name=re.compile("søgt hjælp")).get_by_label("Nej").check()
    expect(page.locator("#question-test_result")).to_be_hidden()
    page.get_by_label("Ja, med en PCR-test").check()
    expect(page.locator("#question-test_result")).to_be_visible()
    page.locator("#question-test_result").get_by_label("Jeg venter stadig på svar").check()
    page.get_by_role("group", name="Er du blevet testet for influenza?").get_by_label("Nej").check()
    assert axe_violations(page) == []
    assert fits_width(page)
    # Keyboard: the submit button can be reached and pressed without a mouse.
    page.get_by_role("button", name="Send rapport").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/thanks*")
    assert page.get_by_role("heading", level=1).inner_text() == "Tak for din rapport"

    with live.app.app_context():
        (report,) = db.session.scalars(select(WeeklyReport)).all()
        assert report.week == today - dt.timedelta(days=today.weekday())
        assert report.fever and report.cough and not report.no_symptoms and not report.sore_throat
        assert report.same_illness == "no" and report.sudden_onset is True
        assert report.symptom_start == today - dt.timedelta(days=2)
        assert report.fever_start == today - dt.timedelta(days=1)
        assert report.onset_date == report.fever_start
        assert report.highest_temperature == "38_38.9" and report.fever_sudden is True
        assert report.temperature_measured is True and report.persistent_cough is True and report.still_ill is True
        assert report.care_none and report.flu_tested is False
        assert report.tested == "pcr" and report.test_result == "pending"
        assert (report.municipality_code, report.region_code, report.sex, report.birth_year) == (751, 1082, "female", 1975)
        assert report.questionnaire_version == "weekly-2" and report.revision == 1

    # In English: change this week's report, trip over a validation error, fix it.
    page.get_by_role("link", name="English").click()
    page.goto(f"{live.url}/me")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Change this week's report").click()
    page.wait_for_load_state()
    assert page.get_by_label("Cough", exact=True).is_checked()  # the stored answers are filled in
    page.get_by_label("Fever", exact=True).uncheck()
    expect(page.locator("#question-fever_start")).to_be_hidden()
    page.get_by_label("When did your first symptoms start?").fill((today + dt.timedelta(days=3)).isoformat())
    page.get_by_role("group", name="Have you been tested for COVID-19 in the past week?").get_by_label("No").check()
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#error-summary")).to_be_focused()
    assert "The date cannot be in the future." in page.locator("#error-summary").inner_text()
    field = page.get_by_label("When did your first symptoms start?")
    assert field.get_attribute("aria-invalid") == "true"
    assert "err-symptom_start" in field.get_attribute("aria-describedby")
    assert axe_violations(page) == []
    field.fill(today.isoformat())
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url("**/thanks*")
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you for your report"

    with live.app.app_context():
        (report,) = db.session.scalars(select(WeeklyReport)).all()
        assert report.revision == 2 and report.cough and not report.fever
        assert report.fever_start is None and report.highest_temperature is None
        assert report.tested == "none" and report.test_result is None
        assert report.onset_date == today
        assert db.session.scalar(select(ReportRevision.revision)) == 1
        assert db.session.scalar(select(OutboxMessage.category)) == "confirm"

    # Log out with the button in the header.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live.url}/")
    page.goto(f"{live.url}/me")
    assert "/login" in page.url
    # axe really looks: an input without a label is reported.
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    assert any(v.startswith("label (critical)") for v in axe_violations(page))

    # No script error and no CSP violation. (Chromium also logs every 4xx response as a console error: the
    # 400s of the forms shown again with messages, and the missing favicon; those are expected.)
    errors = [e for e in page.errors if not e.startswith("Failed to load resource")]  # type: ignore[attr-defined]
    assert errors == []
