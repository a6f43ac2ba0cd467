"""Bearer sessions for the citizen API (mobile apps).

Sign-in reuses the e-mail link: ``POST /api/v1/me/login`` mails the same login link as the web page (and
answers the same whether or not the address is registered). The app, registered for the link's address
(an Android App Link / iOS Universal Link on ``/login/link/``), takes the token from the link and spends
it with ``POST /api/v1/me/session``, which returns a bearer token. The link is spent by the same
conditional UPDATE as on the web, once, within COVIDMETER_LOGIN_TOKEN_MINUTES; opened in a browser
instead, the link logs in the browser. The bearer token is a ``user_sessions`` row (only its SHA-256 is
stored), valid for API_SESSION_DAYS, revoked by ``DELETE /api/v1/me/session`` or by withdrawal. It is
sent as ``Authorization: Bearer cmm_...``; no cookie is involved, so the API needs no CSRF token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, update

from ..accounts.service import spend_link
from ..extensions import db
from ..models import Account, UserSession, utcnow
from ..security import hash_secret, live_citizen_session, new_secret

PREFIX = "cmm_"
API_SESSION_DAYS = 30


@dataclass(frozen=True)
class IssuedSession:
    access_token: str
    expires_at: dt.datetime


def exchange_link(secret: str) -> IssuedSession:
    """Spend a confirmation or login link and open a bearer session (``accounts.service.spend_link``: one
    transaction; ``LinkNotValid`` if it cannot be spent)."""
    return spend_link(secret, _open_bearer_session, channel="api")


def _open_bearer_session(account: Account, now: dt.datetime) -> IssuedSession:
    access_token = PREFIX + new_secret()
    expires_at = now + dt.timedelta(days=API_SESSION_DAYS)
    db.session.add(UserSession(session_hash=hash_secret(access_token), account_id=account.id, expires_at=expires_at))
    return IssuedSession(access_token, expires_at)


_SESSION = live_citizen_session(bindparam("session_hash"), bindparam("now"))


def presented(access_token: str | None) -> bool:
    """The value has the shape of a bearer session token (whether it is live is the database's to say)."""
    return access_token is not None and access_token.startswith(PREFIX)


def account_for(access_token: str) -> int | None:
    """The account of a live bearer session (one indexed look-up), else None."""
    if not presented(access_token):
        return None
    return db.session.connection().execute(
        _SESSION, {"session_hash": hash_secret(access_token), "now": utcnow()}).scalar_one_or_none()


def revoke(access_token: str) -> None:
    db.session.execute(update(UserSession).where(UserSession.session_hash == hash_secret(access_token),
                                                 UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
