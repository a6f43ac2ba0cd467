"""Staff accounts, their second factor (TOTP) and API tokens: creation, verification, revocation.

Services commit explicitly. TOTP follows RFC 6238 (pyotp: 30-second steps, 6 digits, SHA-1, the form every
authenticator app reads); a code is accepted for the current step and one step either side (clock drift),
and never twice: the last accepted step is stored and any step up to it is refused (no replay).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

import pyotp

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import record
from ..extensions import db
from ..models import STAFF_ROLES, ApiToken, StaffUser, UserSession, utcnow
from ..security import Principal, hash_secret

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "cmt_"
TOTP_ISSUER = "COVIDmeter"
TOTP_INTERVAL = 30
TOTP_DRIFT_STEPS = 1
TOKEN_SCOPES = ("export:read", "influenzanet:read")  # the incidence export; the Influenzanet file


class StaffError(ValueError):
    """A staff or token operation that cannot be done; the message says why."""


def normalise_email(email: str) -> str:
    """Lower-case and trimmed; control characters (which PostgreSQL text refuses) are dropped."""
    return "".join(c for c in email if c.isprintable()).strip().lower()[:320]


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_staff_user(email: str, role: str, password: str | None = None,
                      principal: Principal | None = None) -> tuple[StaffUser, str]:
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
    record("staff.create", f"staff:{user.id}", principal or Principal("system"), role=role)
    db.session.commit()
    return user, password


def verify_password(user: StaffUser, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_api_token(name: str, scopes: str = "export:read", days: int | None = 365,
                     owner: StaffUser | None = None, principal: Principal | None = None) -> IssuedToken:
    name = name.strip()
    if not name:
        raise StaffError("a token needs a name")
    if not name.isprintable():
        raise StaffError("a token name holds only printable characters")
    if len(name) > 100:
        raise StaffError("a token name has at most 100 characters")
    unknown = set(scopes.split()) - set(TOKEN_SCOPES)
    if unknown or not scopes.split():
        raise StaffError(f"scopes must be among {', '.join(TOKEN_SCOPES)}")
    if days is not None and not 1 <= days <= 730:
        raise StaffError("a token expires after 1 to 730 days")
    # Names are unique per owner: whether another authority has a token of this name is never told.
    same_owner = ApiToken.staff_user_id == owner.id if owner else ApiToken.staff_user_id.is_(None)
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name, same_owner)) is not None:
        raise StaffError(f"you already have a token named {name!r}" if owner else
                         f"a token named {name!r} already exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, prefix=secret[:10], token_hash=hash_secret(secret), scopes=scopes,
                     expires_at=utcnow() + dt.timedelta(days=days) if days else None,
                     staff_user_id=owner.id if owner else None)
    db.session.add(token)
    db.session.flush()
    record("token.create", f"token:{token.id}", principal or Principal("system"), name=name, scopes=scopes,
           expires_at=token.expires_at.isoformat(timespec="seconds") if token.expires_at else None)
    db.session.commit()
    return IssuedToken(token, secret)


def find_api_token(secret: str) -> ApiToken | None:
    """The token for a presented secret if it is valid now: not revoked, not expired, and its owner (the staff
    user who created it, if any) not disabled. Checked on every request, in the same look-up, so disabling
    a staff user stops their tokens at once (and enabling them again lets the tokens work again)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(
        select(ApiToken).outerjoin(StaffUser, StaffUser.id == ApiToken.staff_user_id)
        .where(ApiToken.token_hash == hash_secret(secret), StaffUser.disabled_at.is_(None)))
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= utcnow():
        return None
    return token


def revoke_api_token(name: str, principal: Principal | None = None) -> ApiToken:
    """Revoke a token by name (the command line, which sees every token): refused if several owners have a
    token of that name (``covidmeter token list`` shows them; revoke by id then)."""
    if not name.isprintable():
        raise StaffError(f"no token named {name!r}")
    tokens = list(db.session.scalars(select(ApiToken).where(ApiToken.name == name)))
    if not tokens:
        raise StaffError(f"no token named {name!r}")
    if len(tokens) > 1:
        raise StaffError(f"{len(tokens)} tokens are named {name!r}; revoke one by its id: "
                         + ", ".join(str(t.id) for t in tokens))
    return revoke_api_token_by_id(tokens[0], principal)


def revoke_api_token_by_id(token: ApiToken, principal: Principal | None = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record("token.revoke", f"token:{token.id}", principal or Principal("system"), name=token.name)
    db.session.commit()
    return token


# --- TOTP ------------------------------------------------------------------------------------------------

def totp_enrolled(user: StaffUser) -> bool:
    return user.totp_secret is not None and user.totp_confirmed_at is not None


def begin_totp_enrolment(user: StaffUser) -> str:
    """A new, unconfirmed secret for ``user`` (kept until a code confirms it); the caller commits."""
    if totp_enrolled(user):
        raise StaffError("TOTP is already set up for this account; an admin can reset it")
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def totp_uri(user: StaffUser) -> str:
    if user.totp_secret is None:
        raise StaffError("no TOTP secret")
    return pyotp.TOTP(user.totp_secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=user.email, issuer_name=TOTP_ISSUER)


def current_totp_code(user: StaffUser, at: float | None = None) -> str:
    """The code an authenticator shows now (for ``covidmeter staff totp`` in development and for tests)."""
    if user.totp_secret is None:
        raise StaffError(f"{user.email} has no TOTP secret yet: sign in once with the password to set it up")
    return pyotp.TOTP(user.totp_secret, interval=TOTP_INTERVAL).at(at if at is not None else time.time())


def check_totp(user: StaffUser, code: str, at: float | None = None) -> bool:
    """True when ``code`` is valid now and newer than the last accepted one (which it then becomes)."""
    code = "".join(code.split())
    if user.totp_secret is None or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret, interval=TOTP_INTERVAL)
    now_step = int((at if at is not None else time.time()) // TOTP_INTERVAL)
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # replayed (or older than one already used)
            user.totp_last_step = step
            return True
    return False


def confirm_totp(user: StaffUser, code: str) -> bool:
    """Confirm a pending enrolment with a first code; the caller commits."""
    if totp_enrolled(user) or not check_totp(user, code):
        return False
    user.totp_confirmed_at = utcnow()
    record("staff.totp.enrol", f"staff:{user.id}", Principal("staff", staff_user_id=user.id, role=user.role))
    return True


def reset_totp(user: StaffUser, principal: Principal | None = None) -> None:
    """Forget the second factor (lost phone): the next sign-in sets it up again. Ends the user's sessions."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    revoke_sessions(user)
    record("staff.totp.reset", f"staff:{user.id}", principal or Principal("system"))
    db.session.commit()


# --- administration --------------------------------------------------------------------------------------

def find_staff_user(email: str) -> StaffUser:
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))
    if user is None:
        raise StaffError(f"no staff user {normalise_email(email)}")
    return user


def active_sessions(user: StaffUser) -> list[UserSession]:
    return list(db.session.scalars(
        select(UserSession).where(UserSession.staff_user_id == user.id, UserSession.revoked_at.is_(None),
                                  UserSession.expires_at > utcnow())
        .order_by(UserSession.created_at.desc())))


def revoke_sessions(user: StaffUser, session_id: int | None = None) -> int:
    """Revoke one (``session_id``) or every active session of ``user``; the caller commits and audits."""
    revoked = 0
    for row in active_sessions(user):
        if session_id is None or row.id == session_id:
            row.revoked_at = utcnow()
            revoked += 1
    return revoked


def set_disabled(user: StaffUser, disabled: bool, principal: Principal) -> None:
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        revoke_sessions(user)
        record("staff.disable", f"staff:{user.id}", principal)
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        user.failed_attempts = 0
        user.locked_until = None
        record("staff.enable", f"staff:{user.id}", principal)
    db.session.commit()
