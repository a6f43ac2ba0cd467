"""The whole citizen journey in Debian's Chromium (CSRF on): sign up, confirm, report for oneself, add a
relative in the UI and report for them, read the history, download the data as JSON and CSV, and delete
the account. Then the weekly mail's "nobody was ill" in two taps."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, Profile, WeeklyReport, Withdrawal
from reporting.reminders import send_due_reminders
from reporting.reports import service as reports

from .citizen_pages import sign_up

pytestmark = pytest.mark.browser


def count(live: Any, model: type) -> int:
    with live.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_sign_up_report_for_self_and_relative_history_download_and_delete(
        live_server: Callable[..., Any], page: Any) -> None:
    live = live_server()
    sign_up(page, live.url, "familie@example.dk")

    # Report for oneself: well this week.
    page.get_by_role("link", name="Report this week (You)").click()
    page.get_by_label("No symptoms").check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url("**/thanks")
    expect(page.locator(".advice")).to_contain_text("Good to hear that you have been well")

    # Add a relative in the UI; questions that do not apply to a child disappear.
    page.get_by_role("link", name="Back to your reports").click()
    page.get_by_role("link", name="Add a person you report for").click()
    page.get_by_label("Who will you report for?").select_option(label="My child")
    page.get_by_label("Name").fill("Alma")
    expect(page.locator("#question-healthcare_worker")).to_be_hidden()
    page.get_by_label("What year were you born?").fill("2016")
    page.get_by_label("Female").check()
    expect(page.locator("#question-pregnant")).to_be_hidden()  # not asked of a child
    page.get_by_label("Which municipality do you live in?").select_option(label="Aarhus")
    page.get_by_label("How many people live in the household").fill("3")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_url("**/me")
    expect(page.locator(".flash")).to_contain_text("The person has been added")

    # Report for the relative: ill, with the follow-up questions.
    today = dt.date.today()
    page.get_by_role("link", name="Report this week (Alma)").click()
    expect(page.get_by_text("For: Alma.")).to_be_visible()
    page.get_by_label("Fever", exact=True).check()
    page.get_by_label("Cough", exact=True).check()
    page.get_by_role("group", name=re.compile("coughing a lot")).get_by_label("No", exact=True).check()
    page.get_by_role("group", name="Is this the same illness that you reported last time?").get_by_label("No", exact=True).check()
    page.get_by_label("When did your first symptoms start?").fill(today.isoformat())
    page.get_by_role("group", name="Are you still ill?").get_by_label("Yes", exact=True).check()
    page.get_by_role("group", name=re.compile("Did your symptoms come on suddenly")).get_by_label("Yes", exact=True).check()
    page.get_by_label("When did your fever start?").fill(today.isoformat())
    page.get_by_role("group", name=re.compile("Did the fever come on suddenly")).get_by_label("Yes", exact=True).check()
    page.get_by_role("group", name="Did you take your temperature?").get_by_label("Yes", exact=True).check()
    page.get_by_label("39.0–39.9 °C").check()
    page.get_by_role("group", name=re.compile("sought medical help")).get_by_label("Yes, my own doctor (GP)").check()
    page.get_by_role("group", name="Have you been tested for COVID-19 in the past week?").get_by_label("No", exact=True).check()
    page.get_by_role("group", name="Have you been tested for influenza?").get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url("**/thanks")
    advice = page.locator(".advice").inner_text()
    assert "Contact your own doctor" in advice and "70 11 31 31" in advice  # Region Midtjylland's helpline

    # History: both people, this week.
    page.get_by_role("link", name="Your weeks and your region").click()
    history = page.locator("main").inner_text()
    assert "Alma" in history and "No symptoms" in history and "Fever, Cough" in history
    assert "How Region Midtjylland is doing" in history

    # Download the data: JSON and CSV.
    page.get_by_role("link", name="Settings", exact=True).click()
    with page.expect_download() as download_json:
        page.get_by_role("link", name="Download all your data (JSON)").click()
    document = json.loads(open(download_json.value.path(), encoding="utf-8").read())
    assert document["account"]["email"] == "familie@example.dk"
    assert [p["relation"] for p in document["profiles"]] == ["self", "child"]
    assert document["profiles"][1]["reports"][0]["answers"]["highest_temperature"] == "39_39.9"
    with page.expect_download() as download_csv:
        page.get_by_role("link", name="Download your reports (CSV, for spreadsheets)").click()
    rows = list(csv.DictReader(io.StringIO(open(download_csv.value.path(), encoding="utf-8-sig").read())))
    assert sorted(r["symptoms"] for r in rows) == ["fever;cough", "none"]
    assert download_csv.value.suggested_filename == "covidmeter-my-reports.csv"

    # Delete the account: a confirmation page, one button.
    page.get_by_role("link", name="Withdraw and delete your data").click()
    page.get_by_role("button", name="Withdraw and delete everything").click()
    page.wait_for_url("**/withdrawn")
    assert page.get_by_role("heading", level=1).inner_text() == "Your data has been deleted"
    assert count(live, Account) == 0 and count(live, Profile) == 0 and count(live, WeeklyReport) == 0
    assert count(live, Withdrawal) == 1
    page.goto(f"{live.url}/me")
    assert "/login" in page.url
    errors = [e for e in page.errors if not e.startswith("Failed to load resource")]  # type: ignore[attr-defined]
    assert errors == []


def test_nobody_ill_from_the_weekly_mail_in_two_taps(live_server: Callable[..., Any], page: Any) -> None:
    live = live_server()
    sign_up(page, live.url, "hjem@example.dk")
    with live.app.app_context():
        account = db.session.scalar(select(Account))
        account.reminder_weekday = 0
        db.session.add(Profile(account_id=account.id, relation="partner", display_name="Bo", birth_year=1970,
                               sex="male", municipality_code=751, intake_version="intake-2", intake_answers={}))
        db.session.commit()
        assert send_due_reminders(reports.local_today()) == 1
    page.context.clear_cookies()  # the mail is opened on another device, not logged in
    page.goto(f"{live.url}/dev/outbox")
    link = page.locator("a[href*='/nobody-ill']").first.get_attribute("href")
    page.goto(link + "?lang=en")  # tap 1: the link in the mail
    expect(page.get_by_role("heading", level=1)).to_have_text("Nobody in my household was ill this week")
    page.get_by_role("button", name="Yes, nobody was ill").click()  # tap 2
    expect(page.get_by_role("status")).to_contain_text("saved for 2 people")
    with live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WeeklyReport)
                                 .where(WeeklyReport.no_symptoms.is_(True))) == 2
