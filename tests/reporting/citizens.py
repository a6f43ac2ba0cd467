"""Helpers for tests of the citizen slice: accounts and profiles made directly, and the sign-up and login
flows driven through the pages."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import Account, OutboxMessage, Profile

LINK = re.compile(r"https?://\S+/(?:signup/confirm|login/link)/[A-Za-z0-9_-]+")

SIGN_UP = {"email": "ida@example.dk", "birth_year": "1980", "sex": "female", "municipality": "751",
           "consent": "2026-1"}


def make_profile(app: Flask, email: str = "ole@example.dk", *, birth_year: int = 1970, sex: str = "male",
                 municipality_code: int = 101, status: str = "active") -> tuple[int, str]:
    """An account with one profile, written directly. Returns (account id, profile id)."""
    with app.app_context():
        account = Account(email=email, status=status, language="da")
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
