"""Helpers for tests of the citizen slice: accounts and profiles made directly, and the sign-up and login
flows driven through the pages."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import Account, Consent, OutboxMessage, Profile

LINK = re.compile(r"https?://\S+/(?:signup/confirm|login/link)/[A-Za-z0-9_-]+")

SIGN_UP = {"email": "ida@example.dk", "birth_year": "1980", "sex": "female", "municipality": "751", "household_size": "2",
           "consent": "2026-1"}


def make_profile(app: Flask, email: str = "ole@example.dk", *, birth_year: int = 1970, sex: str = "male",
                 municipality_code: int = 101, status: str = "active", language: str = "da",
                 reminder_weekday: int = 0) -> tuple[int, str]:
    """An account (with a consent) and one profile, written directly. Returns (account id, profile id)."""
    with app.app_context():
        account = Account(email=email, status=status, language=language, reminder_weekday=reminder_weekday)
        account.consents.append(Consent(version="2026-1"))
        account.profiles.append(Profile(birth_year=birth_year, sex=sex, municipality_code=municipality_code,
                                        intake_version="intake-1",
                                        intake_answers={"birth_year": birth_year, "sex": sex,
                                                        "municipality": municipality_code}))
        db.session.add(account)
        db.session.commit()
        return account.id, account.profiles[0].id


def outbox(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def last_link(app: Flask, recipient: str) -> str:
    """The path of the link in the newest mail to ``recipient``."""
    messages = [m for m in outbox(app) if m.recipient == recipient]
    assert messages, f"no mail to {recipient}"
    match = LINK.search(messages[-1].body_text)
    assert match, messages[-1].body_text
    return re.sub(r"^https?://[^/]+", "", match.group(0))


def sign_up_and_log_in(app: Flask, client: FlaskClient, **fields: Any) -> str:
    """Sign up through the pages, confirm by the mailed link; returns the new profile's id."""
    data = {**SIGN_UP, **fields}
    response = client.post("/signup", data=data)
    assert response.status_code == 302, response.data.decode()
    path = last_link(app, data["email"])
    assert client.post(path).status_code == 302
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == data["email"]))
        return account.profiles[0].id


def log_in(app: Flask, client: FlaskClient, email: str) -> None:
    assert client.post("/login", data={"email": email}).status_code == 302
    assert client.post(last_link(app, email)).status_code == 302


def add_relative(app: Flask, account_id: int, *, relation: str = "child", display_name: str | None = "Alma",
                 birth_year: int = 2015, sex: str = "female", municipality_code: int = 101) -> str:
    """Another profile on an account, written directly. Returns its id."""
    with app.app_context():
        profile = Profile(account_id=account_id, relation=relation, display_name=display_name, birth_year=birth_year,
                          sex=sex, municipality_code=municipality_code, intake_version="intake-2",
                          intake_answers={"birth_year": birth_year, "sex": sex, "municipality": municipality_code,
                                          "household_size": 3})
        db.session.add(profile)
        db.session.commit()
        return profile.id


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_id" value="([^"]+)"')


def submission_id_of(html: str) -> str:
    match = SUBMISSION.search(html)
    assert match, "no submission id in the form"
    return match.group(1)
