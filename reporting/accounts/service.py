"""Citizen accounts: sign-up, e-mail confirmation and login by e-mail link.

Passwordless. A link by mail carries a 256-bit token; only its SHA-256 hash is stored. Opening the link
shows a confirmation page and does not spend the token (mail scanners open links); only the POST from
that page spends it, once, within COVIDMETER_LOGIN_TOKEN_MINUTES. Nothing here reveals whether an e-mail
address is registered: sign-up and login requests answer the same either way, and the difference is only
in the mail that the owner of the address receives.

Each public function is one transaction and commits it; views stay thin.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..extensions import db
from ..i18n import LANGUAGES
from ..models import Account, Consent, LoginToken, Municipality, Profile, utcnow
from ..questionnaire import Questionnaire, to_columns
from ..security import hash_secret, new_secret, start_session

# The consent text shown at sign-up has a version; the version given is stored with the consent.
# Change the text in templates/citizen/_consent.html -> add a new version here.
CONSENT_VERSION = "2026-1"
SIGN_IN_PURPOSES = ("confirm", "login")


class InvalidEmail(ValueError):
    """The address is not a usable e-mail address (the message is for the user)."""


class LinkNotValid(Exception):
    """The link is unknown, used or expired. The user is told the same in each case."""


@dataclass(frozen=True)
class PendingLink:
    """What the confirmation page needs to know about a link, without spending it."""

    purpose: str
    expires_at: dt.datetime


def normalise_email(address: str) -> str:
    """Lower-cased and checked for syntax (no DNS look-up, so it works offline and in tests)."""
    try:
        checked = validate_email((address or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(_("Enter an e-mail address like name@example.dk.")) from exc
    return checked.normalized.lower()


def sign_up(email: str, *, language: str, consent_version: str, intake: Questionnaire,
            intake_answers: Mapping[str, Any]) -> None:
    """Register an account with its first profile and mail a confirmation link.

    If the address is already registered, nothing is changed and the owner gets a mail with a login
    link instead; the caller shows the same page in both cases.
    """
    email = normalise_email(email)
    language = language if language in LANGUAGES else current_app.config["COVIDMETER_DEFAULT_LANGUAGE"]
    if consent_version != CONSENT_VERSION:
        raise ValueError(f"consent version {consent_version!r} is not the current {CONSENT_VERSION!r}")
    existing = db.session.scalar(select(Account).where(Account.email == email))
    if existing is None:
        columns = to_columns(intake, intake_answers)
        if db.session.get(Municipality, columns["municipality_code"]) is None:
            raise ValueError("unknown municipality")  # validated by the questionnaire before this
        # Each account gets its own reminder weekday, so the weekly mail (and the reports it brings) is
        # spread over the week; the person can choose another day in the settings.
        account = Account(email=email, language=language, status="pending",
                          reminder_weekday=secrets.randbelow(7))
        account.consents.append(Consent(version=consent_version))
        account.profiles.append(Profile(relation="self", intake_version=intake.id,
                                        intake_answers=dict(intake_answers), **columns))
        db.session.add(account)
        try:
            db.session.flush()
        except IntegrityError:  # the same address signed up at the same moment
            db.session.rollback()
            existing = db.session.scalar(select(Account).where(Account.email == email))
            if existing is None:
                raise
        else:
            secret = _issue_token(account, "confirm")
            _send(account, "confirm", secret)
            audit.record("account.sign_up", target=f"account:{account.id}", consent_version=consent_version)
            db.session.commit()
            return
    # Already registered: a pending account gets a new confirmation link, an active one a login link.
    purpose = "confirm" if existing.status == "pending" else "login"
    secret = _issue_token(existing, purpose)
    _send(existing, "already_registered" if purpose == "login" else "confirm", secret)
    audit.record("account.sign_up_existing", target=f"account:{existing.id}")
    db.session.commit()


def request_login(email: str) -> None:
    """Mail a login link if the address is registered; otherwise do nothing. The caller answers the same."""
    email = normalise_email(email)
    account = db.session.scalar(select(Account).where(Account.email == email))
    if account is None:
        db.session.rollback()
        return
    purpose = "confirm" if account.status == "pending" else "login"
    secret = _issue_token(account, purpose)
    _send(account, purpose, secret)
    audit.record("account.login_requested", target=f"account:{account.id}")
    db.session.commit()


def inspect_link(secret: str) -> PendingLink:
    """For the confirmation page: is this link usable? Does not spend it."""
    token = db.session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_secret(secret or "")))
    usable = (token is not None and token.purpose in SIGN_IN_PURPOSES and token.used_at is None
              and token.expires_at > utcnow())
    link = PendingLink(token.purpose, token.expires_at) if usable and token is not None else None
    db.session.rollback()
    if link is None:
        raise LinkNotValid()
    return link


def redeem_link(secret: str) -> Account:
    """Spend a confirmation or login link and open a session for its account (one transaction).

    The token is spent by a conditional UPDATE, so two simultaneous POSTs cannot both succeed.
    """
    now = utcnow()
    token_hash = hash_secret(secret or "")
    spent = db.session.execute(
        update(LoginToken)
        .where(LoginToken.token_hash == token_hash, LoginToken.used_at.is_(None), LoginToken.expires_at > now,
               LoginToken.purpose.in_(SIGN_IN_PURPOSES))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        db.session.rollback()
        raise LinkNotValid()
    token = db.session.scalar(select(LoginToken).where(LoginToken.token_hash == token_hash))
    account = token.account
    if account.status == "pending":  # whoever opens a link sent to the address has confirmed it
        account.status = "active"
        account.confirmed_at = now
    start_session(account=account)
    audit.record("account.login", target=f"account:{account.id}", purpose=token.purpose)
    db.session.commit()
    return account


def profiles_of(account_id: int) -> list[Profile]:
    """The account's profiles, the account holder's own first."""
    return list(db.session.scalars(select(Profile).where(Profile.account_id == account_id)
                                   .order_by(Profile.created_at, Profile.id)))


def log_out() -> None:
    from ..security import end_session

    end_session()
    db.session.commit()


def _issue_token(account: Account, purpose: str) -> str:
    secret = new_secret()
    minutes = current_app.config["COVIDMETER_LOGIN_TOKEN_MINUTES"]
    db.session.add(LoginToken(token_hash=hash_secret(secret), account=account, purpose=purpose,
                              expires_at=utcnow() + dt.timedelta(minutes=minutes)))
    return secret


def link_url(purpose: str, secret: str) -> str:
    base = current_app.config["COVIDMETER_BASE_URL"].rstrip("/")
    path = "/signup/confirm/" if purpose == "confirm" else "/login/link/"
    return f"{base}{path}{secret}"


MAIL_SUBJECTS = {
    # Marked for extraction here; translated at send time in the account's language.
    "confirm": lambda: _("Confirm your e-mail address for COVIDmeter"),
    "login": lambda: _("Your login link for COVIDmeter"),
    "already_registered": lambda: _("You already have a COVIDmeter account"),
}


def _send(account: Account, kind: str, secret: str) -> None:
    from .mailing import send_to_account

    purpose = "confirm" if kind == "confirm" else "login"
    send_to_account(account, kind, MAIL_SUBJECTS[kind], category=purpose, link=link_url(purpose, secret))
