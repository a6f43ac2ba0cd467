"""The report service (week, stratum, onset, revisions, idempotency, record-level authorisation) and the
weekly report pages."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import ReportRevision, ReportSubmission, UserSession, WeeklyReport
from reporting.questionnaire import load
from reporting.reports import service as reports
from reporting.security import hash_secret

from .citizens import make_profile, sign_up_and_log_in

UTC = dt.timezone.utc
# Thursday 26 November 2026, 10:00 in Copenhagen (UTC+1): ISO week 2026-W48, Monday 23 November.
THURSDAY = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WEEK = dt.date(2026, 11, 23)
WEEKLY = load("weekly-1")
ILL = {"symptoms": ["fever", "cough"], "same_illness": "no", "symptom_start": "2026-11-22",
       "sudden_onset": "yes", "fever_start": "2026-11-24", "highest_temperature": "38_38.9",
       "tested": "pcr", "test_result": "positive"}
WELL = {"symptoms": ["none"]}


def submit(app: Flask, account_id: int, profile_id: str, answers: dict[str, Any], submission_id: str | None = None,
           now: dt.datetime = THURSDAY) -> reports.SubmissionResult:
    with app.app_context():
        return reports.submit_report(account_id=account_id, profile_id=profile_id,
                                     submission_id=submission_id if submission_id is not None else f"sub-{len(str(answers))}-{now.timestamp():.0f}-xx",
                                     questionnaire=WEEKLY, answers=answers, now=now)


def stored(app: Flask) -> list[WeeklyReport]:
    with app.app_context():
        return list(db.session.scalars(select(WeeklyReport).order_by(WeeklyReport.id)))


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# --- the service -------------------------------------------------------------------------------------------

def test_a_report_copies_the_stratum_and_typed_answers(app: Flask) -> None:
    account_id, profile_id = make_profile(app, birth_year=1970, sex="male", municipality_code=851)
    result = submit(app, account_id, profile_id, ILL, "first-submission-0001")
    assert (result.week, result.revision, result.replayed) == (WEEK, 1, False)
    (report,) = stored(app)
    assert report.profile_id == profile_id and report.week == WEEK
    assert (report.region_code, report.municipality_code, report.sex, report.birth_year, report.age_years) == (
        1081, 851, "male", 1970, 56)
    assert report.questionnaire_version == "weekly-1" and report.answers == ILL
    assert report.fever and report.cough and not report.no_symptoms and not report.sore_throat
    assert report.same_illness == "no" and report.sudden_onset is True
    assert report.symptom_start == dt.date(2026, 11, 22) and report.fever_start == dt.date(2026, 11, 24)
    assert report.highest_temperature == "38_38.9" and report.tested == "pcr" and report.test_result == "positive"
    assert report.submitted_at == THURSDAY


@pytest.mark.parametrize("answers, onset", [
    (ILL, dt.date(2026, 11, 24)),  # fever start wins
    ({**ILL, "symptoms": ["cough"], "fever_start": None, "highest_temperature": None}, dt.date(2026, 11, 22)),
    (WELL, dt.date(2026, 11, 26)),  # the report day
])
def test_onset_is_the_first_known_of_fever_start_symptom_start_report_day(app: Flask, answers: dict[str, Any],
                                                                       onset: dt.date) -> None:
    account_id, profile_id = make_profile(app)
    submit(app, account_id, profile_id, {k: v for k, v in answers.items() if v is not None})
    (report,) = stored(app)
    assert report.onset_date == onset and report.onset_week == onset - dt.timedelta(days=onset.weekday())


def test_onset_week_can_be_before_the_report_week(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    submit(app, account_id, profile_id, {**ILL, "symptom_start": "2026-11-20", "fever_start": "2026-11-21"})
    (report,) = stored(app)
    assert report.week == WEEK and report.onset_week == dt.date(2026, 11, 16)


def test_the_week_is_the_iso_week_in_copenhagen(app: Flask) -> None:
    account_id, profile_id = make_profile(app, birth_year=1990)
    # Sunday 29 November 23:30 UTC is already Monday 30 November in Copenhagen: week 2026-W49.
    result = submit(app, account_id, profile_id, WELL, now=dt.datetime(2026, 11, 29, 23, 30, tzinfo=UTC))
    assert result.week == dt.date(2026, 11, 30)
    # Across the turn of the ISO year: Friday 1 January 2027 is in week 2026-W53, so age uses 2026.
    result = submit(app, account_id, profile_id, WELL, now=dt.datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert result.week == dt.date(2026, 12, 28)
    assert stored(app)[-1].age_years == 2026 - 1990


def test_a_second_report_in_the_same_week_replaces_and_keeps_the_old_version(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    submit(app, account_id, profile_id, ILL, "submission-one-0001")
    later = THURSDAY + dt.timedelta(days=1)
    result = submit(app, account_id, profile_id, WELL, "submission-two-0002", now=later)
    assert result.revision == 2 and not result.replayed
    (report,) = stored(app)
    assert report.revision == 2 and report.answers == WELL and report.submitted_at == later
    assert report.no_symptoms and not report.fever and not report.cough
    assert report.symptom_start is None and report.tested is None and report.test_result is None  # nothing left over
    assert report.onset_date == dt.date(2026, 11, 27)
    with app.app_context():
        (old,) = db.session.scalars(select(ReportRevision)).all()
        assert (old.report_id, old.revision, old.answers, old.submitted_at) == (report.id, 1, ILL, THURSDAY)
        assert old.questionnaire_version == "weekly-1"
    # Next week is a new report.
    submit(app, account_id, profile_id, WELL, "submission-three-03", now=THURSDAY + dt.timedelta(days=7))
    assert [(r.week, r.revision) for r in stored(app)] == [(WEEK, 2), (dt.date(2026, 11, 30), 1)]


def test_the_same_submission_id_and_body_replays(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    first = submit(app, account_id, profile_id, ILL, "retried-submission-01")
    again = submit(app, account_id, profile_id, dict(reversed(list(ILL.items()))), "retried-submission-01",
                   now=THURSDAY + dt.timedelta(minutes=1))
    assert again.replayed and (again.report_id, again.revision) == (first.report_id, 1)
    (report,) = stored(app)
    assert report.revision == 1 and report.submitted_at == THURSDAY
    assert count(app, ReportRevision) == 0 and count(app, ReportSubmission) == 1


def test_the_same_submission_id_with_another_body_is_a_conflict(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    submit(app, account_id, profile_id, ILL, "conflicting-submission")
    with pytest.raises(reports.SubmissionConflict):
        submit(app, account_id, profile_id, WELL, "conflicting-submission")
    (report,) = stored(app)
    assert report.answers == ILL and report.revision == 1 and count(app, ReportRevision) == 0


def test_a_submission_id_cannot_be_reused_for_another_profile(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    submit(app, account_id, profile_id, WELL, "shared-submission-id1")
    other_account, other_profile = make_profile(app, "other@example.dk")
    with pytest.raises(reports.SubmissionConflict):
        submit(app, other_account, other_profile, WELL, "shared-submission-id1")
    assert len(stored(app)) == 1


def test_a_citizen_cannot_report_for_another_accounts_profile(app: Flask) -> None:
    account_id, _ = make_profile(app)
    _, someone_elses = make_profile(app, "other@example.dk")
    with pytest.raises(reports.ProfileNotFound):
        submit(app, account_id, someone_elses, WELL)
    with pytest.raises(reports.ProfileNotFound):
        submit(app, account_id, "0" * 32, WELL)
    assert stored(app) == []


def test_submission_ids_must_look_like_one(app: Flask) -> None:
    account_id, profile_id = make_profile(app)
    for bad in ("", "short", "x" * 65, "has spaces in it ....."):
        with pytest.raises(reports.InvalidSubmissionId):
            submit(app, account_id, profile_id, WELL, bad)
    assert stored(app) == []


WEEKLY_2_ILL = {"symptoms": ["fever", "cough", "tiredness"], "persistent_cough": "no", "severe_fatigue": "yes",
                "same_illness": "no", "symptom_start": "2026-11-22", "still_ill": "yes", "sudden_onset": "yes",
                "fever_start": "2026-11-24", "fever_sudden": "yes", "temperature_measured": "yes",
                "highest_temperature": "38_38.9", "care": ["no"], "tested": "antigen", "test_result": "negative",
                "flu_tested": "no", "days_off": 1}


@pytest.mark.parametrize("questionnaire, answers", [(WEEKLY, ILL), (WEEKLY, WELL), (load("weekly-2"), WEEKLY_2_ILL)])
def test_the_fast_path_writes_what_the_general_path_writes(app: Flask, questionnaire: Any,
                                                           answers: dict[str, Any]) -> None:
    """The first report of a week is written by a shortcut (on PostgreSQL one statement); the general path
    (replays, revisions, a week's report written concurrently) must store exactly the same row."""
    fast_account, fast_profile = make_profile(app, "fast@example.dk", birth_year=1961, sex="female",
                                              municipality_code=461)
    general_account, general_profile = make_profile(app, "general@example.dk", birth_year=1961, sex="female",
                                                    municipality_code=461)
    api_account, api_profile = make_profile(app, "api@example.dk", birth_year=1961, sex="female",
                                            municipality_code=461)
    with app.app_context():
        digest = reports.body_hash(fast_profile, questionnaire, answers)
        fast = reports._submit(fast_account, fast_profile, "fast-path-submission-1", questionnaire, answers,
                               digest, THURSDAY, look_for_previous=False)
        general = reports._submit(general_account, general_profile, "general-path-submission-1", questionnaire,
                                  answers, digest, THURSDAY, look_for_previous=True)
        db.session.commit()
        # The citizen API's path (on PostgreSQL one autocommit statement that also checks the session).
        api = reports.submit_report(session_hash=bearer_session(app, api_account), profile_id=api_profile,
                                    submission_id="api-path-submission-1", questionnaire=questionnaire,
                                    answers=answers, now=THURSDAY)
        for other in (fast, api):
            assert (other.week, other.revision, other.region_code) == (general.week, general.revision,
                                                                       general.region_code)
            assert other.profile.intake_answers == general.profile.intake_answers
            assert other.profile.birth_year == general.profile.birth_year == 1961
        rows = {r.profile_id: r for r in db.session.scalars(select(WeeklyReport))}
        columns = [c.name for c in WeeklyReport.__table__.columns if c.name not in ("id", "profile_id")]
        for other in (fast_profile, api_profile):
            assert ({c: getattr(rows[other], c) for c in columns}
                    == {c: getattr(rows[general_profile], c) for c in columns})
        submissions = {s.submission_id: s for s in db.session.scalars(select(ReportSubmission))}
        assert submissions["fast-path-submission-1"].report_id == fast.report_id == rows[fast_profile].id
        assert (submissions["fast-path-submission-1"].body_hash, submissions["fast-path-submission-1"].revision,
                submissions["fast-path-submission-1"].created_at) == (digest, 1, THURSDAY)


def bearer_session(app: Flask, account_id: int, *, expires_in: dt.timedelta = dt.timedelta(days=30),
                   revoked: bool = False) -> str:
    """A citizen API session of the account (as ``POST /api/v1/me/session`` makes one); returns its hash."""
    token = f"cmm_{secrets.token_urlsafe(16)}"
    with app.app_context():
        db.session.add(UserSession(session_hash=hash_secret(token), account_id=account_id,
                                   expires_at=THURSDAY + expires_in, revoked_at=THURSDAY if revoked else None))
        db.session.commit()
    return hash_secret(token)


def test_a_session_submission_is_authenticated_by_its_statement(app: Flask) -> None:
    account_id, profile_id = make_profile(app, "mine@example.dk")
    other_account, other_profile = make_profile(app, "theirs@example.dk")
    live = bearer_session(app, account_id)

    def by_session(session_hash: str, profile: str = profile_id, submission_id: str = "session-submission-01",
                   answers: dict[str, Any] = WELL) -> reports.SubmissionResult:
        with app.app_context():
            return reports.submit_report(session_hash=session_hash, profile_id=profile, submission_id=submission_id,
                                         questionnaire=WEEKLY, answers=answers, now=THURSDAY)

    for dead in (bearer_session(app, account_id, revoked=True),
                 bearer_session(app, account_id, expires_in=dt.timedelta(0)), hash_secret("cmm_never-issued")):
        with pytest.raises(reports.NotSignedIn):
            by_session(dead)
    with pytest.raises(reports.ProfileNotFound):  # a live session, but another account's profile
        by_session(live, other_profile)
    assert stored(app) == [] and count(app, ReportSubmission) == 0
    first = by_session(live)
    assert (first.revision, first.replayed, first.week) == (1, False, WEEK)
    # The same id again replays (the one statement is refused by the unique key; the general path looks), and
    # a new report the same week is a revision.
    assert by_session(live).replayed and by_session(live).report_id == first.report_id
    with pytest.raises(reports.SubmissionConflict):
        by_session(live, answers=ILL)
    revised = by_session(live, submission_id="session-submission-02", answers=ILL)
    assert (revised.revision, revised.replayed, revised.report_id) == (2, False, first.report_id)
    with pytest.raises(reports.NotSignedIn):  # a week's report exists, and the session is checked all the same
        by_session(bearer_session(app, account_id, revoked=True), submission_id="session-submission-03")
    (row,) = stored(app)
    assert row.fever and row.revision == 2 and count(app, ReportRevision) == 1
    with pytest.raises(TypeError):
        with app.app_context():
            reports.submit_report(account_id=other_account, session_hash=live, profile_id=other_profile,
                                  submission_id="session-submission-04", questionnaire=WEEKLY, answers=WELL)


def test_the_fast_path_refuses_another_accounts_profile(app: Flask) -> None:
    account_id, _ = make_profile(app, "mine@example.dk")
    _, other_profile = make_profile(app, "theirs@example.dk")
    with app.app_context():
        with pytest.raises(reports.ProfileNotFound):
            reports._submit(account_id, other_profile, "not-my-profile-0001", WEEKLY, WELL,
                            reports.body_hash(other_profile, WEEKLY, WELL), THURSDAY, look_for_previous=False)
        db.session.rollback()
    assert stored(app) == [] and count(app, ReportSubmission) == 0


# --- the pages -------------------------------------------------------------------------------------------------

def form_of(html: str) -> dict[str, str]:
    return {"submission_id": re.search(r'name="submission_id" value="([^"]+)"', html).group(1)}


def today() -> str:
    return dt.date.today().isoformat()


def test_report_form_renders_follow_ups_with_conditions(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    page = client.get(f"/report/{profile_id}?lang=en")
    html = page.data.decode()
    assert page.status_code == 200
    assert '<script src="/static/questionnaire.js" defer></script>' in html
    assert 'data-questionnaire="weekly-2"' in html and 'name="csrf_token"' in html
    assert html.count('type="checkbox"') == 24 + 6 and "No symptoms" in html  # symptoms, care sought
    assert 'id="question-fever_start" data-question="fever_start" data-condition=' in html
    assert "<legend>Have you been tested for COVID-19 in the past week?</legend>" in html
    assert "script>" not in html.replace('<script src="/static/questionnaire.js" defer></script>', "")  # no inline JS
    js = client.get("/static/questionnaire.js")
    assert js.status_code == 200 and "any_except" in js.data.decode()


def test_report_through_the_form_then_thank_you(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    html = client.get(f"/report/{profile_id}?lang=en").data.decode()
    data = {**form_of(html), "symptoms": ["fever", "sore_throat"], "same_illness": "no", "symptom_start": today(),
            "still_ill": "yes", "sudden_onset": "yes", "fever_start": today(), "fever_sudden": "yes",
            "temperature_measured": "yes", "highest_temperature": "39_39.9", "care": "no", "tested": "no",
            "flu_tested": "no",
            "test_result": "positive"}  # no test: the result is not asked, so it is ignored
    response = client.post(f"/report/{profile_id}", data=data)
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/report/{profile_id}/thanks")
    thanks = client.get(response.headers["Location"]).data.decode()
    assert "Thank you for your report" in thanks
    # Advice by rules: a high fever -> contact the doctor, with the helpline of the person's region (Aarhus).
    assert "Contact your own doctor" in thanks and "70 11 31 31" in thanks
    (report,) = stored(app)
    assert report.fever and report.sore_throat and report.tested == "none" and report.test_result is None
    assert "test_result" not in report.answers
    # Sending the same form again (a double click, a retry) stores nothing new.
    assert client.post(f"/report/{profile_id}", data=data).status_code == 302
    assert stored(app)[0].revision == 1
    # The overview shows the week as reported; the form opens with the stored answers.
    assert "Reported for this week. Thank you!" in client.get("/me").data.decode()
    again = client.get(f"/report/{profile_id}").data.decode()
    assert "your new answers replace the earlier ones" in again
    assert 'value="sore_throat" checked' in again
    assert form_of(again)["submission_id"] != data["submission_id"]  # a new form, a new id


def test_changed_answers_under_a_used_submission_id_are_a_409(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    ids = form_of(client.get(f"/report/{profile_id}").data.decode())
    assert client.post(f"/report/{profile_id}", data={**ids, "symptoms": "none"}).status_code == 302
    response = client.post(f"/report/{profile_id}?lang=en", data={**ids, "symptoms": "rash", "same_illness": "no",
                                                                  "symptom_start": today(), "still_ill": "yes",
                                                                  "sudden_onset": "no", "care": "no", "tested": "no",
                                                                  "flu_tested": "no"})
    assert response.status_code == 409 and "This form was already sent" in response.data.decode()
    assert stored(app)[0].no_symptoms and stored(app)[0].revision == 1


def test_bad_input_is_explained_beside_the_field_and_nothing_is_stored(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    ids = form_of(client.get(f"/report/{profile_id}").data.decode())
    response = client.post(f"/report/{profile_id}?lang=en", data={**ids, "symptoms": ["none", "cough"]})
    html = response.data.decode()
    assert response.status_code == 400
    assert '<a href="#q-symptoms-0">“No symptoms” cannot be combined with other answers.</a>' in html
    assert '<fieldset aria-describedby="hint-symptoms err-symptoms">' in html
    assert 'value="cough" aria-invalid="true"' not in html and 'value="cough" checked aria-invalid="true"' in html
    assert form_of(html) == ids  # the same form, the same submission id
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    response = client.post(f"/report/{profile_id}?lang=da", data={**ids, "symptoms": "cough", "symptom_start": future})
    html = response.data.decode()
    assert "Datoen kan ikke ligge i fremtiden." in html and "Vælg et svar." in html
    assert 'id="err-symptom_start"' in html
    assert stored(app) == [] and count(app, ReportSubmission) == 0


def test_another_accounts_profile_is_not_found(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    _, someone_elses = make_profile(app, "other@example.dk")
    assert client.get(f"/report/{someone_elses}").status_code == 404
    response = client.post(f"/report/{someone_elses}", data={"submission_id": "a" * 24, "symptoms": "none"})
    assert response.status_code == 404
    assert client.get(f"/report/{someone_elses}/thanks").status_code == 404
    assert stored(app) == []


def test_report_pages_need_a_login(app: Flask, client: FlaskClient) -> None:
    _, profile_id = make_profile(app)
    assert client.get(f"/report/{profile_id}").status_code == 302
    response = client.post(f"/report/{profile_id}", data={"submission_id": "a" * 24, "symptoms": "none"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert stored(app) == []


def test_a_missing_submission_id_is_refused(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    assert client.post(f"/report/{profile_id}", data={"symptoms": "none"}).status_code == 400
    assert stored(app) == []
