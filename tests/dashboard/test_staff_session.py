"""The staff session as the dashboard sees it: the sign-in opens it (and the staff page links it), the password
alone does not, an anonymous visitor is sent to the sign-in and back, and signing out closes it for good."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import UserSession
from tests.reporting.staff import audit_events, sign_in, sign_in_fully


def test_password_alone_opens_nothing(client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("admin")
    first = sign_in(client, email)
    assert first.status_code == 302 and first.headers["Location"].startswith("/staff/login/code")
    for path in ("/staff/", "/dashboard/", "/admin/staff"):
        assert client.get(path).status_code == 302
    page = client.get("/staff/login/code").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page


def test_sign_in_starts_a_server_side_session_and_audits(app: Flask, client: FlaskClient,
                                                          make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    before = len(audit_events(app, "staff.login"))
    response = sign_in_fully(client, email.upper())  # e-mail is case-insensitive
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    home = client.get("/staff/")
    assert home.status_code == 200 and email in home.get_data(as_text=True)
    assert 'href="/dashboard/"' in home.get_data(as_text=True)  # the dashboard adds itself to the staff page
    events = audit_events(app, "staff.login")
    assert len(events) == before + 1
    assert events[-1].actor_kind == "staff" and events[-1].target.startswith("staff:")
    with app.app_context():
        assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_(None))) is not None


def test_dashboard_redirects_anonymous_to_login_with_next(client: FlaskClient) -> None:
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=/dashboard/")


def test_logout_revokes_the_session_server_side(app: Flask, client: FlaskClient,
                                                make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    sign_in_fully(client, email)
    with client.session_transaction() as cookie_session:
        stolen_sid = cookie_session["sid"]
    assert client.get("/dashboard/").status_code == 200
    response = client.post("/staff/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.staff_user_id.is_not(None)))
        assert row.revoked_at is not None
    assert client.get("/dashboard/").status_code == 302
    # Replaying the old cookie value does not bring the session back.
    replay = app.test_client()
    with replay.session_transaction() as cookie_session:
        cookie_session["sid"] = stolen_sid
    assert replay.get("/dashboard/").status_code == 302
    assert replay.post("/dashboard/_dash-update-component", json={}).status_code == 401
    assert audit_events(app, "staff.logout")
