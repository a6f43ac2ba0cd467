"""Staff users in tests: a fixed TOTP secret per address (so a test computes codes like an authenticator app),
signing in (the password, then the code), bearer headers and the audit log. The fixtures that make staff users
and API tokens (``make_staff``, ``staff_client``, ``api_token``) are in tests/conftest.py."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import AuditEvent

PASSWORD = "correct horse battery staple"


def totp_secret(email: str) -> str:
    """A fixed base32 secret per test user, so a test can compute codes like an authenticator app."""
    return base64.b32encode(hashlib.sha256(email.encode()).digest()[:20]).decode()


def totp_code(email: str, steps_ahead: int = 0) -> str:
    totp = pyotp.TOTP(totp_secret(email))
    return totp.at(time.time() + 30 * steps_ahead)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """The password step only."""
    client.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")  # assertions read English text
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


def sign_in_fully(client: FlaskClient, email: str, password: str = PASSWORD, code: str | None = None,
                  **extra: str) -> Any:
    """Password, then the TOTP code; returns the response of the code step."""
    first = sign_in(client, email, password, **extra)
    assert first.status_code == 302 and "/staff/login/code" in first.headers["Location"], first.status_code
    return client.post("/staff/login/code", data={"code": code or totp_code(email.lower()), **extra})


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))
