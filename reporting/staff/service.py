"""Staff accounts and API tokens: creation, verification, revocation (services commit explicitly)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import record
from ..extensions import db
from ..models import STAFF_ROLES, ApiToken, StaffUser, utcnow
from ..security import Principal, hash_secret

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "cmt_"


class StaffError(ValueError):
    """A staff or token operation that cannot be done; the message says why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_staff_user(email: str, role: str, password: str | None = None) -> tuple[StaffUser, str]:
    """Create a staff user; returns the user and the password (generated when not given)."""
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise StaffError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if "@" not in email:
        raise StaffError("that is not an e-mail address")
    if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise StaffError(f"a staff user {email} already exists")
    password = password or generate_password()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = StaffUser(email=email, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    record("staff.create", f"staff:{user.id}", Principal("system"), role=role)
    db.session.commit()
    return user, password


def verify_password(user: StaffUser, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_api_token(name: str, scopes: str = "export:read", days: int | None = 365) -> IssuedToken:
    name = name.strip()
    if not name:
        raise StaffError("a token needs a name")
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise StaffError(f"a token named {name!r} already exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, prefix=secret[:10], token_hash=hash_secret(secret), scopes=scopes,
                     expires_at=utcnow() + dt.timedelta(days=days) if days else None)
    db.session.add(token)
    db.session.flush()
    record("token.create", f"token:{token.id}", Principal("system"), name=name, scopes=scopes)
    db.session.commit()
    return IssuedToken(token, secret)


def find_api_token(secret: str) -> ApiToken | None:
    """The token for a presented secret if it is valid now (not revoked, not expired)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= utcnow():
        return None
    return token


def revoke_api_token(name: str) -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise StaffError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record("token.revoke", f"token:{token.id}", Principal("system"), name=name)
    db.session.commit()
    return token
