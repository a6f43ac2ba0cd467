"""Self-service through the pages: the people one reports for, history, settings, change of e-mail
address, a copy of one's data (JSON, CSV) and withdrawal."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import (
    Account,
    AuditEvent,
    CitizenEvent,
    Consent,
    EmailChange,
    LoginToken,
    OutboxMessage,
    Profile,
    ReportRevision,
    ReportSubmission,
    UserSession,
    WeeklyReport,
    Withdrawal,
)
from reporting.questionnaire import current
from reporting.reports import service as reports

from .citizens import SIGN_UP, last_link, make_profile, outbox, sign_up_and_log_in, submission_id_of

CHILD = {"relation": "child", "display_name": "Alma", "birth_year": "2016", "sex": "female", "municipality": "751",
         "household_size": "3", "healthcare_worker": "yes", "pregnant": "yes"}


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def profiles_of(app: Flask, email: str = SIGN_UP["email"]) -> list[Profile]:
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == email))
        return list(db.session.scalars(select(Profile).where(Profile.account_id == account.id)
                                       .order_by(Profile.created_at)))


def test_add_a_relative_then_report_for_them(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    form = client.get("/me/profiles/new?lang=en").data.decode()
    assert "Who will you report for?" in form and 'data-context-fields="relation"' in form
    response = client.post("/me/profiles/new", data=CHILD)
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    own, child = profiles_of(app)
    assert (child.relation, child.display_name, child.birth_year, child.sex, child.municipality_code) == (
        "child", "Alma", 2016, "female", 751)
    # Questions not asked of a child (their condition names the relation) are ignored, whatever was sent.
    assert child.intake_answers == {"birth_year": 2016, "sex": "female", "municipality": 751, "household_size": 3}
    assert child.intake_version == "intake-2"
    overview = client.get("/me?lang=en").data.decode()
    assert "Alma" in overview and overview.count("Report this week") == 2
    html = client.get(f"/report/{child.id}?lang=en").data.decode()
    assert "For: Alma." in html
    sent = client.post(f"/report/{child.id}", data={"submission_id": submission_id_of(html), "symptoms": "none"})
    assert sent.status_code == 302
    with app.app_context():
        (report,) = db.session.scalars(select(WeeklyReport)).all()
        assert report.profile_id == child.id and report.birth_year == 2016 and report.region_code == 1082


def test_a_relative_needs_a_relation_and_valid_answers(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    response = client.post("/me/profiles/new?lang=en", data={**CHILD, "relation": "self", "birth_year": "1850"})
    html = response.data.decode()
    assert response.status_code == 400
    assert "Choose who you will report for." in html and "Enter a year no earlier than 1900." in html
    assert len(profiles_of(app)) == 1
    # A relative may be under 18 (the age rule is only for the account holder).
    assert client.post("/me/profiles/new", data={**CHILD, "birth_year": str(dt.date.today().year)}).status_code == 302


def test_edit_details_and_remove_a_relative(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    client.post("/me/profiles/new", data=CHILD)
    own, child = profiles_of(app)
    page = client.get(f"/me/profiles/{own.id}/edit?lang=en").data.decode()
    assert 'value="1980"' in page and 'data-context=\'{"relation": "self"}\'' in page
    edited = client.post(f"/me/profiles/{own.id}/edit", data={"birth_year": "1981", "sex": "female",
                                                             "municipality": "101", "household_size": "1",
                                                             "chronic_condition": "yes"})
    assert edited.status_code == 302
    own = profiles_of(app)[0]
    assert (own.birth_year, own.municipality_code, own.intake_answers["chronic_condition"]) == (1981, 101, "yes")
    # The account holder's own age rule still applies when editing.
    too_young = client.post(f"/me/profiles/{own.id}/edit?lang=en", data={
        "birth_year": str(dt.date.today().year - 10), "sex": "female", "municipality": "101", "household_size": "1"})
    assert too_young.status_code == 400 and "You must be 18" in too_young.data.decode()
    # Remove the child: a confirmation page, then the POST deletes the profile and its reports.
    with app.app_context():
        reports.submit_report(account_id=own.account_id, profile_id=child.id, submission_id="r" * 20,
                              questionnaire=current("weekly"), answers={"symptoms": ["none"]})
    assert "cannot be undone" in client.get(f"/me/profiles/{child.id}/delete?lang=en").data.decode()
    assert client.post(f"/me/profiles/{child.id}/delete").status_code == 302
    assert [p.id for p in profiles_of(app)] == [own.id]
    assert count(app, WeeklyReport) == 0
    # One's own profile goes only with the account.
    assert client.get(f"/me/profiles/{own.id}/delete").headers["Location"] == "/me/withdraw"
    assert client.post(f"/me/profiles/{own.id}/delete").status_code == 302 and len(profiles_of(app)) == 1


def test_another_accounts_profile_cannot_be_edited_or_removed(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    _, theirs = make_profile(app, "other@example.dk")
    assert client.get(f"/me/profiles/{theirs}/edit").status_code == 404
    assert client.post(f"/me/profiles/{theirs}/edit", data={**CHILD}).status_code == 404
    assert client.post(f"/me/profiles/{theirs}/delete").status_code == 404
    assert len(profiles_of(app, "other@example.dk")) == 1


def test_history_lists_the_weeks_of_each_person(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    html = client.get(f"/report/{profile_id}").data.decode()
    client.post(f"/report/{profile_id}", data={"submission_id": submission_id_of(html), "symptoms": "none"})
    page = client.get("/me/history?lang=en").data.decode()
    with app.app_context():
        week = reports.current_week()
    from reporting.weeks import format_iso_week

    assert format_iso_week(week) in page and "No symptoms" in page
    assert "There are no published figures for the region yet." in page  # nothing published in the test database
    assert "Region Midtjylland" in page


def test_settings_pause_stop_and_preferences(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    page = client.get("/me/settings?lang=en").data.decode()
    assert "You get a reminder every" in page
    assert client.post("/me/settings/pause", data={"weeks": "2"}).status_code == 302
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.reminders_paused_until == reports.local_today() + dt.timedelta(weeks=2)
    assert "paused until" in client.get("/me/settings?lang=en").data.decode()
    client.post("/me/settings/pause", data={"weeks": "resume"})
    client.post("/me/settings/reminders", data={"action": "stop"})
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.reminders_paused_until is None and account.unsubscribed_at is not None
    client.post("/me/settings/reminders", data={"action": "start"})
    client.post("/me/settings/preferences", data={"language": "en", "reminder_weekday": "4"})
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.unsubscribed_at is None and account.language == "en" and account.reminder_weekday == 4
    # Bad input changes nothing.
    for path, data in (("/me/settings/pause", {"weeks": "52"}), ("/me/settings/preferences",
                                                                 {"language": "fr", "reminder_weekday": "1"}),
                       ("/me/settings/preferences", {"language": "da", "reminder_weekday": "9"}),
                       ("/me/settings/reminders", {"action": "maybe"})):
        assert client.post(path, data=data).status_code == 400
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert (account.language, account.reminder_weekday, account.reminders_paused_until) == ("en", 4, None)


def test_change_of_email_is_confirmed_from_the_new_address(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    bad = client.post("/me/settings/email?lang=en", data={"email": "not an address"})
    assert bad.status_code == 400 and "Enter an e-mail address like" in bad.data.decode()
    assert client.post("/me/settings/email", data={"email": "Ida.New@Example.dk"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Account.email)) == SIGN_UP["email"]  # not yet
    (mail,) = [m for m in outbox(app) if m.recipient == "ida.new@example.dk"]
    link = mail.body_text.split("http://localhost", 1)[1].split()[0]
    page = client.get(link + "?lang=en")
    assert page.status_code == 200 and "ida.new@example.dk" in page.data.decode()
    assert client.post(link).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Account.email)) == "ida.new@example.dk"
    # The old address is told; the link works once.
    assert any(m.recipient == SIGN_UP["email"] and "ida.new@example.dk" in m.body_text for m in outbox(app))
    assert client.post(link).status_code == 410


def test_change_to_a_registered_address_answers_the_same_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "taken@example.dk")
    sign_up_and_log_in(app, client)
    before = len(outbox(app))
    response = client.post("/me/settings/email", data={"email": "taken@example.dk"})
    assert response.status_code == 302 and response.headers["Location"] == "/me/settings"
    new = outbox(app)[before:]
    assert [m.recipient for m in new] == ["taken@example.dk"] and "nothing was changed" in new[0].body_text.lower() or \
        "intet er ændret" in new[0].body_text.lower()
    assert count(app, EmailChange) == 0
    with app.app_context():
        assert set(db.session.scalars(select(Account.email))) == {"taken@example.dk", SIGN_UP["email"]}


def fill_data(app: Flask, client: FlaskClient) -> str:
    profile_id = sign_up_and_log_in(app, client, display_name="=cmd|' /C calc'!A0")
    client.post("/me/profiles/new", data={**CHILD, "display_name": "=HYPERLINK(\"http://x\")"})
    html = client.get(f"/report/{profile_id}").data.decode()
    client.post(f"/report/{profile_id}", data={"submission_id": submission_id_of(html), "symptoms": "none"})
    html = client.get(f"/report/{profile_id}").data.decode()
    client.post(f"/report/{profile_id}", data={"submission_id": submission_id_of(html), "symptoms": ["cough"],
                                               "persistent_cough": "yes", "same_illness": "no",
                                               "symptom_start": dt.date.today().isoformat(), "still_ill": "yes",
                                               "sudden_onset": "no", "care": ["gp", "helpline"], "tested": "no",
                                               "flu_tested": "no"})
    return profile_id


def test_download_everything_as_json_and_csv(app: Flask, client: FlaskClient) -> None:
    profile_id = fill_data(app, client)
    response = client.get("/me/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.data)
    assert document["account"]["email"] == SIGN_UP["email"]
    assert [c["version"] for c in document["consents"]] == ["2026-1"]
    own, child = document["profiles"]
    assert own["id"] == profile_id and child["display_name"] == '=HYPERLINK("http://x")'
    (report,) = own["reports"]
    assert report["revision"] == 2 and report["answers"]["care"] == ["gp", "helpline"]
    assert report["earlier_versions"][0]["answers"] == {"symptoms": ["none"]}
    assert {e["action"] for e in document["events"]} >= {"account.sign_up", "account.login"}
    assert document["sessions"] and all("hash" not in json.dumps(s) for s in document["sessions"])
    # CSV: a row per report version, a column per question, formulas neutralised.
    response = client.get("/me/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [(r["revision"], r["current"]) for r in rows] == [("2", "yes"), ("1", "no")]
    assert rows[0]["symptoms"] == "cough" and rows[0]["care"] == "gp;helpline" and rows[0]["persistent_cough"] == "yes"
    assert list(rows[0])[:8] == ["profile", "relation", "display_name", "week", "submitted_at", "revision", "current",
                                "questionnaire_version"]
    from reporting.accounts.data_rights import export_csv

    text = export_csv({"profiles": [{"id": "p", "relation": "child", "display_name": "=1+1", "reports": [
        {"week": "2026-W01", "submitted_at": "x", "revision": 1, "questionnaire_version": "weekly-2",
         "answers": {"symptoms": ["none"]}, "earlier_versions": []}]}]})
    assert "'=1+1" in text and ",=1+1" not in text


def test_withdrawal_deletes_everything_and_keeps_only_a_record(app: Flask, client: FlaskClient) -> None:
    fill_data(app, client)
    assert "delete at once" in client.get("/me/withdraw?lang=en").data.decode()
    with app.app_context():
        account_id = db.session.scalar(select(Account.id))
    response = client.post("/me/withdraw")
    assert response.status_code == 302 and response.headers["Location"] == "/withdrawn"
    for model in (Account, Profile, Consent, WeeklyReport, ReportRevision, ReportSubmission, LoginToken, UserSession,
                  EmailChange):
        assert count(app, model) == 0, model.__name__
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.recipient == SIGN_UP["email"])) == 0
        (record,) = db.session.scalars(select(Withdrawal)).all()
        assert (record.channel, record.profiles_deleted, record.reports_deleted, record.consent_version) == (
            "web", 2, 1, "2026-1")
        # Nothing of the person in the append-only audit log (it never holds citizens' events), and their own
        # event log went with the account.
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.target == f"account:{account_id}")) == 0
        assert count(app, CitizenEvent) == 0
    # Logged out: the session went with the account.
    assert client.get("/me").status_code == 302
    assert "Your data has been deleted" in client.get("/withdrawn?lang=en").data.decode()
    # The address can sign up again.
    assert client.post("/signup", data=SIGN_UP).status_code == 302
    assert last_link(app, SIGN_UP["email"]).startswith("/signup/confirm/")
