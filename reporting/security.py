"""Secrets, server-side sessions and the current principal.

Tokens (login links, session ids, API tokens) are 256-bit random values; only their SHA-256 hash is
stored, so a database leak does not yield usable credentials. Comparisons go through the database
unique index on the hash, so there is no timing side channel in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Select, select

from .extensions import db
from .models import Account, StaffUser, UserSession, utcnow


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is making the request."""

    kind: str  # anonymous | citizen | staff | token
    account_id: int | None = None
    staff_user_id: int | None = None
    role: str | None = None
    token_id: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def actor_id(self) -> str | None:
        ident = self.staff_user_id or self.account_id or self.token_id
        return None if ident is None else str(ident)


ANONYMOUS = Principal("anonymous")


def live_citizen_session(session_hash: Any, now: Any) -> Select[tuple[int | None]]:
    """The account of a live citizen session: the hash is known, the session belongs to an account (not to a
    staff user), and it is neither revoked nor expired at ``now``. The one spelling of that rule for the
    citizen API's bearer look-up and for the report statement that authenticates its session itself."""
    return select(UserSession.account_id).where(
        UserSession.session_hash == session_hash, UserSession.account_id.is_not(None),
        UserSession.revoked_at.is_(None), UserSession.expires_at > now)


def start_session(*, account: Account | None = None, staff_user: StaffUser | None = None) -> None:
    """Open a server-side session for a citizen or a staff user (the caller commits)."""
    end_session()
    session.clear()  # a new session id and a fresh CSRF token at every login (no session fixation)
    sid = new_secret()
    hours = current_app.config["COVIDMETER_SESSION_HOURS"]
    db.session.add(UserSession(
        session_hash=hash_secret(sid),
        account_id=account.id if account else None,
        staff_user_id=staff_user.id if staff_user else None,
        expires_at=utcnow() + dt.timedelta(hours=hours),
        user_agent=(request.user_agent.string or "")[:200] or None if has_request_context() else None,
        remote_addr=request.remote_addr if has_request_context() else None,
    ))
    session["sid"] = sid
    session.permanent = False
    g.pop("principal", None)


def end_session() -> None:
    """Revoke the current server-side session, if any (the caller commits)."""
    sid = session.pop("sid", None)
    if sid:
        row = db.session.scalar(select(UserSession).where(UserSession.session_hash == hash_secret(sid)))
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
    g.pop("principal", None)


def current_principal() -> Principal:
    """The principal of this request, from the session cookie (API tokens are resolved by the API)."""
    principal = g.get("principal")
    if principal is None:
        principal = g.principal = _principal_from_session()
    return principal


def set_principal(principal: Principal) -> None:
    g.principal = principal


def _principal_from_session() -> Principal:
    sid = session.get("sid")
    if not sid:
        return ANONYMOUS
    row = db.session.scalar(select(UserSession).where(UserSession.session_hash == hash_secret(sid)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        session.pop("sid", None)
        return ANONYMOUS
    if row.staff_user_id is not None:
        staff = row.staff_user
        if staff is None or staff.disabled_at is not None:
            return ANONYMOUS
        return Principal("staff", staff_user_id=staff.id, role=staff.role)
    return Principal("citizen", account_id=row.account_id)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session (which carries only the session id, the CSRF token and the language),
    with its signing serializer made once per secret key rather than on every request: Flask builds a new
    one each time a request opens its session, even a request without a cookie, such as every call of the
    citizen API."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[object, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if keys not in self._serializers:
            self._serializers[keys] = super().get_signing_serializer(app)
        return self._serializers[keys]
