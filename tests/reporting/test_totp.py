"""The second factor: mandatory set-up at the first sign-in, a code at every sign-in, no replay, lockout."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import StaffUser
from reporting.staff.service import check_totp
from tests.reporting.staff import sign_in, sign_in_fully, totp_code, totp_secret


def test_first_sign_in_sets_up_totp_with_a_qr_code(app: Flask, client: FlaskClient,
                                                   make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist", enrolled=False)
    first = sign_in(client, email)
    assert first.headers["Location"].startswith("/staff/totp/setup")
    assert client.get("/staff/login/code").headers["Location"].startswith("/staff/totp/setup")
    page = client.get("/staff/totp/setup").get_data(as_text=True)
    assert '<svg role="img" aria-labelledby="qr-label"' in page
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        secret, confirmed = user.totp_secret, user.totp_confirmed_at
    assert secret and confirmed is None
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page  # typed in by hand
    assert client.get("/staff/totp/setup").get_data(as_text=True).count(secret[:4]) >= 1  # same secret again
    wrong = client.post("/staff/totp/setup", data={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 401 and client.get("/staff/").status_code == 302
    done = client.post("/staff/totp/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302 and client.get("/staff/").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(StaffUser).where(StaffUser.email == email)).totp_confirmed_at is not None
    # Once set up, the setup page is closed: a new sign-in asks for the code.
    client.post("/staff/logout")
    assert sign_in(client, email).headers["Location"].startswith("/staff/login/code")
    assert client.get("/staff/totp/setup").headers["Location"].startswith("/staff/login/code")


def test_a_code_is_accepted_once(app: Flask, make_staff: Callable[..., str]) -> None:
    email = make_staff("authority")
    code = totp_code(email)
    first = app.test_client()
    assert sign_in_fully(first, email, code=code).status_code == 302
    second = app.test_client()  # an attacker who saw the code a moment later
    replay = sign_in_fully(second, email, code=code)
    assert replay.status_code == 401 and second.get("/staff/").status_code == 302


def test_codes_from_adjacent_steps_and_not_further(app: Flask, make_staff: Callable[..., str]) -> None:
    email = make_staff("admin")
    now = time.time()
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        totp = pyotp.TOTP(totp_secret(email))
        assert not check_totp(user, totp.at(now - 90), at=now)  # three steps old
        assert not check_totp(user, "12345", at=now) and not check_totp(user, "abcdef", at=now)
        assert check_totp(user, totp.at(now - 30), at=now)  # clock drift of one step
        assert not check_totp(user, totp.at(now - 30), at=now)  # and not twice
        assert check_totp(user, totp.at(now + 30), at=now)
        db.session.rollback()


def test_wrong_codes_lock_the_account(app: Flask, client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    right = totp_code(email)
    wrong = "000000" if right != "000000" else "111111"
    sign_in(client, email)
    for _ in range(5):
        assert client.post("/staff/login/code", data={"code": wrong}).status_code in {401, 302}
    with app.app_context():
        assert db.session.scalar(select(StaffUser).where(StaffUser.email == email)).locked_until is not None
    # Locked: even the password and the right code do not open a session now.
    assert sign_in(client, email).status_code == 401
    assert client.post("/staff/login/code", data={"code": right}).status_code == 302  # back to sign-in
    assert client.get("/staff/").status_code == 302


def test_the_password_step_expires(client: FlaskClient, make_staff: Callable[..., str]) -> None:
    email = make_staff("epidemiologist")
    sign_in(client, email)
    with client.session_transaction() as cookie_session:
        pending = dict(cookie_session["staff_pending"])
        pending["at"] -= 301  # five minutes and a second later
        cookie_session["staff_pending"] = pending
    response = client.post("/staff/login/code", data={"code": totp_code(email)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/login")
    assert client.get("/staff/").status_code == 302
