"""The staff commands: a user made on the command line signs in, sets up the second factor with a code the
command line prints, is listed, and has the second factor reset."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import StaffUser
from tests.reporting.staff import sign_in


def test_staff_create_then_first_sign_in_sets_up_totp(app: Flask, runner: FlaskCliRunner) -> None:
    """The newcomer's path: a created account, the password, the setup page, a code printed by the CLI."""
    result = runner.invoke(args=["staff", "create", "Epi@Example.org", "--role", "epidemiologist"])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].splitlines()[0].strip()
    assert len(password) >= 12
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "epi@example.org"))
        assert user.role == "epidemiologist" and password not in user.password_hash
    before_setup = runner.invoke(args=["staff", "totp", "epi@example.org"])
    assert before_setup.exit_code != 0 and "sign in once" in before_setup.output
    client = app.test_client()
    first = sign_in(client, "epi@example.org", password)
    assert first.status_code == 302 and first.headers["Location"].startswith("/staff/totp/setup")
    assert client.get("/staff/").status_code == 302  # no session yet: the second factor is mandatory
    setup = client.get("/staff/totp/setup").get_data(as_text=True)
    assert "<svg" in setup and "otpauth://totp/COVIDmeter:epi%40example.org?secret=" in setup
    code = runner.invoke(args=["staff", "totp", "epi@example.org"]).output.strip()
    assert code.isdigit() and len(code) == 6
    done = client.post("/staff/totp/setup", data={"code": code})
    assert done.status_code == 302 and done.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    listing = runner.invoke(args=["staff", "list"])
    assert "epi@example.org\tepidemiologist\tactive\tmfa=on" in listing.output
    reset = runner.invoke(args=["staff", "reset-totp", "epi@example.org"])
    assert reset.exit_code == 0
    assert client.get("/staff/").status_code == 302  # the reset ended the session
    again = runner.invoke(args=["staff", "create", "epi@example.org", "--role", "admin"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad_role = runner.invoke(args=["staff", "create", "x@example.org", "--role", "citizen"])
    assert bad_role.exit_code != 0
