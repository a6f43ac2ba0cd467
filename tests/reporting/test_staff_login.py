"""Staff sign-in, lockout and sign-out."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import StaffUser, utcnow
from tests.reporting.staff import PASSWORD, audit_events, sign_in, sign_in_fully, totp_code

FAILURE = "The e-mail address or the password is wrong"


def test_login_form_has_csrf_field_and_no_account_hint(client: FlaskClient) -> None:
    page = client.get("/staff/login?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="csrf_token"' in html and 'name="email"' in html and 'type="password"' in html


def test_same_answer_for_unknown_email_and_wrong_password(client: FlaskClient,
                                                          make_staff: Callable[..., str]) -> None:
    email = make_staff("authority")
    wrong = sign_in(client, email, "not the password at all")
    unknown = sign_in(client, "nobody@example.org", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert FAILURE in wrong.get_data(as_text=True)
    def page(response: object) -> str:  # the page without its (per-render) CSRF token
        return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))  # type: ignore

    assert page(wrong) == page(unknown).replace('value="nobody@example.org"', f'value="{email}"')
    assert client.get("/staff/").status_code == 302  # still anonymous: sent to the login page


def test_lockout_after_five_failures(app: Flask, client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("admin")
    for _ in range(5):
        assert sign_in(client, email, "wrong password!!").status_code == 401
    locked = sign_in(client, email)  # the right password is refused while locked, with the same message
    assert locked.status_code == 401 and FAILURE in locked.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        assert user.locked_until is not None
        remaining = user.locked_until - utcnow()
        assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)
        user.locked_until = utcnow() - dt.timedelta(seconds=1)  # fifteen minutes later
        db.session.commit()
    assert sign_in_fully(client, email).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        assert user.failed_attempts == 0 and user.locked_until is None
    assert any(e.detail.get("locked") for e in audit_events(app, "staff.login.failed"))


def test_four_failures_do_not_lock(client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("admin")
    for _ in range(4):
        sign_in(client, email, "wrong password!!")
    assert sign_in(client, email).status_code == 302


def test_disabled_user_cannot_sign_in(app: Flask, client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        user.disabled_at = utcnow()
        db.session.commit()
    assert sign_in(client, email).status_code == 401


def test_next_is_followed_only_when_same_site(app: Flask, client: FlaskClient,
                                              make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    assert sign_in_fully(client, email, next="/dashboard/").headers["Location"] == "/dashboard/"
    client.post("/staff/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        with app.app_context():  # a code is accepted once per time-step: forget the last one used
            db.session.scalar(select(StaffUser).where(StaffUser.email == email)).totp_last_step = None
            db.session.commit()
        assert sign_in_fully(client, email, next=evil).headers["Location"] == "/staff/"
        client.post("/staff/logout")


def test_login_and_logout_need_a_csrf_token(app: Flask, make_staff: Callable[..., str]) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    email = make_staff("epidemiologist")
    client = app.test_client()
    assert sign_in(client, email).status_code == 400
    client.get("/staff/login")
    with client.session_transaction() as cookie_session:
        assert "sid" not in cookie_session
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert sign_in(client, email, csrf_token=token).status_code == 302
    assert client.post("/staff/login/code", data={"code": totp_code(email)}).status_code == 400
    assert sign_in_fully(client, email, csrf_token=token).status_code == 302
    assert client.post("/staff/logout").status_code == 400
    home = client.get("/staff/").get_data(as_text=True)
    token = home.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302


def test_login_is_rate_limited(config: dict[str, object], make_staff: Callable[..., str]) -> None:
    from reporting import create_app

    limited = create_app({**config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    statuses = [sign_in(client, "nobody@example.org", "wrong password!!").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    with limited.app_context():
        db.engine.dispose()


def test_control_characters_are_refused_not_a_server_error(client: FlaskClient, staff_client: Callable[..., FlaskClient],
                                                           make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    assert sign_in(client, email + "\x00").status_code == 302  # NUL dropped: the same address
    assert sign_in(client, "\x00\x01", "x\x00y").status_code == 401
    admin = staff_client("admin")
    assert admin.post("/admin/staff", data={"email": "a\x00@example.org", "role": "admin"}).status_code in {200, 422}
    authority = staff_client("authority")
    assert authority.post("/staff/tokens/", data={"name": "x\x00y", "days": "30",
                                                  "scope-export:read": "1"}).status_code == 422
