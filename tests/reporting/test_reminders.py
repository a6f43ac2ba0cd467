"""The weekly reminder (reporting.reminders) and the capability of its links (reporting.reports.weekly_links):
who is due, one mail per account and week with a link per profile, "nobody was ill" in two taps, and a link
that can submit this week's reports and shows nothing stored."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, Consent, LoginToken, OutboxMessage, ReminderDelivery, WeeklyReport
from reporting.questionnaire import current
from reporting.reminders import due_accounts, send_due_reminders
from reporting.reports import service as reports
from reporting.reports import weekly_links

from .citizens import add_relative, make_profile, outbox, submission_id_of

WEEK_LINK = re.compile(r"http://localhost(/week/[A-Za-z0-9_-]+)")


def today(app: Flask) -> dt.date:
    with app.app_context():
        return reports.local_today()


def weekly_mail(app: Flask, recipient: str) -> OutboxMessage:
    (message,) = [m for m in outbox(app) if m.recipient == recipient and m.category == "weekly"]
    return message


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def remind(app: Flask, day: dt.date | None = None) -> int:
    with app.app_context():
        return send_due_reminders(day or reports.local_today())


def test_one_mail_per_account_lists_every_profile_and_is_never_sent_twice(app: Flask) -> None:
    day = today(app)
    account_id, own = make_profile(app, "mor@example.dk", reminder_weekday=day.weekday())
    child = add_relative(app, account_id, display_name="Alma")
    assert remind(app, day) == 1
    message = weekly_mail(app, "mor@example.dk")
    body = message.body_text
    assert f"/report/{own}" in body and f"/report/{child}" in body and "Alma" in body
    assert "/nobody-ill" in body
    assert message.subject == "Hvordan var din uge? Din rapport til COVIDmeter"  # the account's language
    # RFC 8058 one-click unsubscribe, in the headers and in the text.
    unsubscribe = re.search(r"<(http://localhost/unsubscribe/[^>]+)>", message.headers["List-Unsubscribe"]).group(1)
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in body
    # Again the same day, later in the week, or by a second scheduler: nothing more.
    assert remind(app, day) == 0
    assert remind(app, day + dt.timedelta(days=(6 - day.weekday()))) == 0
    assert count(app, ReminderDelivery) == 1 and len([m for m in outbox(app) if m.category == "weekly"]) == 1
    with app.app_context():
        token = db.session.scalar(select(LoginToken).where(LoginToken.purpose == "weekly"))
        assert token.week == reports.current_week() and token.account_id == account_id
        assert token.token_hash not in body  # only the hash is stored, never the link's secret


def test_who_is_due(app: Flask) -> None:
    day = today(app)
    wd = day.weekday()
    due, _ = make_profile(app, "due@example.dk", reminder_weekday=wd)
    earlier, _ = make_profile(app, "earlier-in-the-week@example.dk", reminder_weekday=0)  # a missed run catches up
    later, _ = make_profile(app, "later@example.dk", reminder_weekday=6) if wd < 6 else (None, None)
    pending, _ = make_profile(app, "pending@example.dk", status="pending", reminder_weekday=wd)
    paused, _ = make_profile(app, "paused@example.dk", reminder_weekday=wd)
    paused_past, _ = make_profile(app, "paused-until-yesterday@example.dk", reminder_weekday=wd)
    stopped, _ = make_profile(app, "stopped@example.dk", reminder_weekday=wd)
    withdrawn, _ = make_profile(app, "consent-withdrawn@example.dk", reminder_weekday=wd)
    reported, reported_profile = make_profile(app, "all-reported@example.dk", reminder_weekday=wd)
    with app.app_context():
        db.session.get(Account, paused).reminders_paused_until = day
        db.session.get(Account, paused_past).reminders_paused_until = day - dt.timedelta(days=1)
        db.session.get(Account, stopped).unsubscribed_at = dt.datetime.now(dt.timezone.utc)
        for consent in db.session.scalars(select(Consent).where(Consent.account_id == withdrawn)):
            consent.withdrawn_at = dt.datetime.now(dt.timezone.utc)
        db.session.commit()
        reports.submit_report(account_id=reported, profile_id=reported_profile, submission_id="x" * 20,
                              questionnaire=current("weekly"), answers={"symptoms": ["none"]})
        assert set(due_accounts(day)) == {due, earlier, paused_past}
    assert later is None or later not in due_accounts_ids(app, day)


def due_accounts_ids(app: Flask, day: dt.date) -> list[int]:
    with app.app_context():
        return due_accounts(day)


def test_the_job_is_declared_once_and_claims_the_day(app: Flask) -> None:
    from scheduler.jobs import JOBS, execute

    (job,) = [j for j in JOBS if j.name == "weekly-reminders"]
    day = today(app)
    make_profile(app, "job@example.dk", reminder_weekday=day.weekday())
    assert execute(app, job) == "succeeded"
    assert execute(app, job) == "skipped"  # the day is claimed
    assert len([m for m in outbox(app) if m.category == "weekly"]) == 1


def link_from_mail(app: Flask, recipient: str) -> str:
    return WEEK_LINK.search(weekly_mail(app, recipient).body_text).group(1)


def test_nobody_ill_is_two_taps_and_idempotent(app: Flask, client: FlaskClient) -> None:
    day = today(app)
    account_id, own = make_profile(app, "hus@example.dk", reminder_weekday=day.weekday())
    child = add_relative(app, account_id)
    remind(app, day)
    link = link_from_mail(app, "hus@example.dk")
    # Tap 1: the link opens a confirmation page (a mail scanner opening it writes nothing).
    page = client.get(f"{link}/nobody-ill?lang=en")
    assert page.status_code == 200 and "Nobody in my household was ill this week" in page.data.decode()
    assert count(app, WeeklyReport) == 0
    # Tap 2: the button.
    done = client.post(f"{link}/nobody-ill?lang=en")
    assert done.status_code == 200 and "saved for 2 people" in done.data.decode()
    with app.app_context():
        rows = db.session.scalars(select(WeeklyReport)).all()
        assert {r.profile_id for r in rows} == {own, child}
        assert all(r.no_symptoms and r.answers == {"symptoms": ["none"]} and r.week == reports.current_week()
                   and r.questionnaire_version == current("weekly").id and r.revision == 1 for r in rows)
    # Again: nothing new.
    again = client.post(f"{link}/nobody-ill?lang=en")
    assert "already reported this week" in again.data.decode()
    assert count(app, WeeklyReport) == 2
    with app.app_context():
        assert all(r.revision == 1 for r in db.session.scalars(select(WeeklyReport)))


def test_nobody_ill_keeps_a_report_already_given(app: Flask, client: FlaskClient) -> None:
    day = today(app)
    account_id, own = make_profile(app, "syg@example.dk", reminder_weekday=day.weekday())
    child = add_relative(app, account_id)
    with app.app_context():
        reports.submit_report(account_id=account_id, profile_id=child, submission_id="c" * 20,
                              questionnaire=current("weekly"),
                              answers={"symptoms": ["rash"], "same_illness": "no", "symptom_start": day.isoformat(),
                                       "still_ill": "yes", "sudden_onset": "no", "care": ["no"], "tested": "no",
                                       "flu_tested": "no"})
    remind(app, day)
    link = link_from_mail(app, "syg@example.dk")
    assert "already reported this week" in client.get(f"{link}/nobody-ill?lang=en").data.decode()
    client.post(f"{link}/nobody-ill")
    with app.app_context():
        by_profile = {r.profile_id: r for r in db.session.scalars(select(WeeklyReport))}
        assert by_profile[child].rash and not by_profile[child].no_symptoms and by_profile[child].revision == 1
        assert by_profile[own].no_symptoms


def test_the_link_reports_for_one_profile_and_shows_nothing_stored(app: Flask, client: FlaskClient) -> None:
    day = today(app)
    account_id, own = make_profile(app, "link@example.dk", reminder_weekday=day.weekday())
    remind(app, day)
    with app.app_context():
        reports.submit_report(account_id=account_id, profile_id=own, submission_id="d" * 20,
                              questionnaire=current("weekly"),
                              answers={"symptoms": ["rash"], "same_illness": "no", "symptom_start": day.isoformat(),
                                       "still_ill": "yes", "sudden_onset": "no", "care": ["no"], "tested": "no",
                                       "flu_tested": "no"})
    link = link_from_mail(app, "link@example.dk")
    form = client.get(f"{link}/report/{own}?lang=en").data.decode()
    assert "already reported for this week" in form
    assert "checked" not in form  # the earlier answers are not shown
    assert "link@example.dk" not in form
    response = client.post(f"{link}/report/{own}?lang=en", data={"submission_id": submission_id_of(form),
                                                                  "symptoms": "none"})
    assert response.status_code == 200 and "Thank you for your report" in response.data.decode()
    assert "Reports from people who are well matter" in response.data.decode()  # the advice
    with app.app_context():
        (report,) = db.session.scalars(select(WeeklyReport)).all()
        assert report.no_symptoms and report.revision == 2
    # The link is not a login: history, settings and export still need one.
    for path in ("/me", "/me/history", "/me/export.json", "/me/settings"):
        assert client.get(path).status_code == 302
    assert "/login" in client.get("/me").headers["Location"]


def test_the_link_cannot_reach_another_accounts_profile(app: Flask, client: FlaskClient) -> None:
    day = today(app)
    make_profile(app, "a@example.dk", reminder_weekday=day.weekday())
    _, theirs = make_profile(app, "b@example.dk", reminder_weekday=day.weekday() + 1 if day.weekday() < 6 else 0)
    remind(app, day)
    link = link_from_mail(app, "a@example.dk")
    assert client.get(f"{link}/report/{theirs}").status_code == 404
    assert client.post(f"{link}/report/{theirs}", data={"submission_id": "e" * 20, "symptoms": "none"}).status_code == 404
    assert count(app, WeeklyReport) == 0


def test_a_link_of_another_week_or_unknown_link_is_refused(app: Flask, client: FlaskClient) -> None:
    account_id, own = make_profile(app, "gammel@example.dk")
    with app.app_context():
        account = db.session.get(Account, account_id)
        last_week = reports.current_week() - dt.timedelta(weeks=1)
        secret = weekly_links.issue(account, last_week)
        # Expiry aside, a link of last week no longer submits (even if its row were still valid).
        db.session.scalar(select(LoginToken).where(LoginToken.purpose == "weekly")).expires_at = (
            dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
        db.session.commit()
    for path in (f"/week/{secret}", f"/week/{secret}/nobody-ill", f"/week/{secret}/report/{own}",
                 "/week/not-a-real-link", "/week/not-a-real-link/nobody-ill"):
        response = client.get(path + "?lang=en")
        assert response.status_code == 410 and "This link has expired" in response.data.decode()
    assert client.post(f"/week/{secret}/nobody-ill").status_code == 410
    assert count(app, WeeklyReport) == 0
    with app.app_context():
        with pytest.raises(weekly_links.WeeklyLinkNotValid):
            weekly_links.capability(secret)
        # A link is valid until its week ends in Copenhagen, not longer.
        current = reports.current_week()
        fresh = weekly_links.issue(db.session.get(Account, account_id), current)
        db.session.commit()
        ends = weekly_links.week_ends_at(current)
        assert weekly_links.capability(fresh, now=ends - dt.timedelta(seconds=1)).week == current
        with pytest.raises(weekly_links.WeeklyLinkNotValid):
            weekly_links.capability(fresh, now=ends)


def test_one_click_unsubscribe_from_the_mail(app: Flask, make_csrf_app) -> None:  # type: ignore[no-untyped-def]
    day = today(app)
    account_id, _ = make_profile(app, "stop@example.dk", reminder_weekday=day.weekday())
    remind(app, day)
    url = re.search(r"<http://localhost(/unsubscribe/[^>]+)>",
                    weekly_mail(app, "stop@example.dk").headers["List-Unsubscribe"]).group(1)
    csrf_app = make_csrf_app()
    client = csrf_app.test_client()
    page = client.get(url + "?lang=en")
    assert page.status_code == 200 and "Stop the weekly reminders" in page.data.decode()
    with app.app_context():
        assert db.session.get(Account, account_id).unsubscribed_at is None  # opening the link changes nothing
    # What a mail client sends for RFC 8058 one-click: a POST without any CSRF token.
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(Account, account_id).unsubscribed_at is not None
        assert due_accounts(day + dt.timedelta(days=7)) == []
    # A forged token is refused and changes nothing.
    assert client.post("/unsubscribe/forged.token", data={"List-Unsubscribe": "One-Click"}).status_code == 404


@pytest.fixture
def make_csrf_app(config: dict[str, object]):  # type: ignore[no-untyped-def]
    from reporting import create_app

    made = []

    def make() -> Flask:
        made.append(create_app({**config, "WTF_CSRF_ENABLED": True}))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()
