"""Citizen accounts: sign-up, e-mail confirmation and login by e-mail link.

Passwordless. A link by mail carries a 256-bit token; only its SHA-256 hash is stored. Opening the link
shows a confirmation page and does not spend the token (mail scanners open links); only the POST from
that page spends it, once, within COVIDMETER_LOGIN_TOKEN_MINUTES. Nothing here reveals whether an e-mail
address is registered: sign-up and login requests answer the same either way, do the same work (the same
reads and writes, a token and a rendered mail in both cases, so their timing tells nothing either), and the
difference is only in the mail that the owner of the address receives. A sign-up makes its account only
when its link is opened, so an address nobody confirms leaves no account behind.

Each public function is one transaction and commits it; views stay thin.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..extensions import db
from ..i18n import LANGUAGES
from ..models import Account, Consent, LoginToken, Municipality, OutboxMessage, Profile, utcnow
from ..questionnaire import Questionnaire, load, to_columns
from ..security import Principal, end_session, hash_secret, new_secret, start_session
from .mailing import send_to_account, stand_in

# The consent text shown at sign-up has a version; the version given is stored with the consent.
# Change the text in templates/citizen/_consent.html -> add a new version here.
CONSENT_VERSION = "2026-1"
SIGN_IN_PURPOSES = ("confirm", "login")
T = TypeVar("T")


class InvalidEmail(ValueError):
    """The address is not a usable e-mail address (the message is for the user)."""


class LinkNotValid(Exception):
    """The link is unknown, used or expired. The user is told the same in each case."""


@dataclass(frozen=True)
class PendingLink:
    """What the confirmation page needs to know about a link, without spending it."""

    purpose: str
    expires_at: dt.datetime


# What may stand before the @ besides letters and digits: what mail providers let people choose (Gmail,
# Outlook, the Danish ISPs: dot, underscore, hyphen, plus for sub-addresses, and the apostrophe of O'Brien).
# RFC 5322 also allows ! # $ % & * / = ? ^ ` { | } ~, but nobody types those into an address of their own; they
# turn up as percent-encoded or pasted garbage (``a%ff%fe@...``, a mangled byte-order mark), and an address
# that cannot be delivered would lock its owner out of the login link. docs/citizen-and-questionnaires.md.
_LOCAL_PART_PUNCTUATION = frozenset(".-_+'")


def normalise_email(address: str) -> str:
    """Lower-cased and checked (no DNS look-up, so it works offline and in tests): the syntax by
    email-validator (internationalised addresses such as søren@æble.dk included), then the part before the
    @ to letters, ASCII digits and ``_LOCAL_PART_PUNCTUATION``, each character as typed (no full-width or
    other compatibility forms). A refusal names the character."""
    try:
        checked = validate_email((address or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(_("Enter an e-mail address like name@example.dk.")) from exc
    for character in checked.local_part:
        allowed = (character in _LOCAL_PART_PUNCTUATION or "0" <= character <= "9"
                   or (character.isalpha() and unicodedata.normalize("NFKC", character) == character))
        if not allowed:
            raise InvalidEmail(_("An e-mail address cannot contain “%(character)s”. Check the address and try again.",
                                 character=character))
    return checked.normalized.lower()


def sign_up(email: str, *, language: str, consent_version: str, intake: Questionnaire,
            intake_answers: Mapping[str, Any]) -> None:
    """Mail a sign-up confirmation link; the account is made when the link is opened (``spend_link``).

    The same work whether or not the address is registered (one read, one token, one mail, one commit), so
    neither the page nor its timing tells which: a new address gets the confirmation link, whose token
    carries the address and the answers (and no account); a registered one gets a login link (or, if never
    confirmed, a new confirmation link) and nothing is changed.
    """
    email = normalise_email(email)
    language = language if language in LANGUAGES else current_app.config["COVIDMETER_DEFAULT_LANGUAGE"]
    if consent_version != CONSENT_VERSION:
        raise ValueError(f"consent version {consent_version!r} is not the current {CONSENT_VERSION!r}")
    columns = to_columns(intake, intake_answers)
    if db.session.get(Municipality, columns["municipality_code"]) is None:
        raise ValueError("unknown municipality")  # validated by the questionnaire before this
    existing = db.session.scalar(select(Account).where(Account.email == email))
    if existing is None:
        answers = {"language": language, "consent_version": consent_version, "intake_version": intake.id,
                   "intake_answers": dict(intake_answers)}
        secret = _issue_token(None, "confirm", email=email, sign_up=answers)
        _send(stand_in(email, language), "confirm", secret, member=False)
    else:
        purpose = "confirm" if existing.status == "pending" else "login"
        secret = _issue_token(existing, purpose)
        _send(existing, "already_registered" if purpose == "login" else "confirm", secret)
    db.session.commit()


def request_login(email: str, *, language: str | None = None) -> None:
    """Mail a login link to a registered address, and to an unknown one a mail saying that it has no account.

    The caller answers the same either way, and the work is the same (one read, one token, one rendered mail,
    one commit): for an unknown address the token is bound to nothing, no mail carries it and nothing can
    spend it (``spend_link`` and ``inspect_link`` refuse it); it only makes both cases write alike.
    """
    email = normalise_email(email)
    language = language if language in LANGUAGES else current_app.config["COVIDMETER_DEFAULT_LANGUAGE"]
    account = db.session.scalar(select(Account).where(Account.email == email))
    if account is None:
        _send(stand_in(email, language), "no_account", _issue_token(None, "login"), member=False)
    else:
        purpose = "confirm" if account.status == "pending" else "login"
        _send(account, purpose, _issue_token(account, purpose))
    db.session.commit()


def _spendable() -> Any:
    """A sign-in link names an account or carries a sign-up (the tokens bound to nothing never work)."""
    return or_(LoginToken.account_id.is_not(None), LoginToken.sign_up.is_not(None))


def inspect_link(secret: str) -> PendingLink:
    """For the confirmation page: is this link usable? Does not spend it."""
    token = db.session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_secret(secret or ""),
                                                       _spendable()))
    usable = (token is not None and token.purpose in SIGN_IN_PURPOSES and token.used_at is None
              and token.expires_at > utcnow())
    link = PendingLink(token.purpose, token.expires_at) if usable and token is not None else None
    db.session.rollback()
    if link is None:
        raise LinkNotValid()
    return link


def spend_link(secret: str, open_session: Callable[[Account, dt.datetime], T], **detail: Any) -> T:
    """Spend a confirmation or login link and sign its account in, in one transaction: the account (made now
    if the link is a sign-up's) is given to ``open_session`` (the web's cookie session, ``redeem_link``, or
    the citizen API's bearer session, ``reporting.citizen_api.sessions``), the login is recorded in the
    account's log (with ``detail``), and what ``open_session`` returned is returned. Raises LinkNotValid (and
    rolls back) if the link cannot be spent.

    The token is spent by a conditional UPDATE, so two simultaneous POSTs cannot both succeed.
    """
    now = utcnow()
    token_hash = hash_secret(secret or "")
    spent = db.session.execute(
        update(LoginToken)
        .where(LoginToken.token_hash == token_hash, LoginToken.used_at.is_(None), LoginToken.expires_at > now,
               LoginToken.purpose.in_(SIGN_IN_PURPOSES), _spendable())
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        db.session.rollback()
        raise LinkNotValid()
    token = db.session.scalar(select(LoginToken).where(LoginToken.token_hash == token_hash))
    if token.account_id is not None:
        account = db.session.get(Account, token.account_id)
    else:
        account = _account_of_sign_up(token, now)
    if account.status == "pending":  # whoever opens a link sent to the address has confirmed it
        account.status = "active"
        account.confirmed_at = now
    opened = open_session(account, now)
    audit.citizen(account.id, "account.login", principal=Principal("citizen", account_id=account.id),
                  purpose=token.purpose, **detail)
    db.session.commit()
    return opened


def _account_of_sign_up(token: LoginToken, now: dt.datetime) -> Account:
    """The account a sign-up link makes (or, if its address has got one meanwhile, that account). The token
    then names the account and keeps neither the address nor the answers; mail sent to the address before
    the account existed becomes the account's (deleted with it)."""
    answers, email = token.sign_up or {}, token.email or ""
    account = db.session.scalar(select(Account).where(Account.email == email))
    if account is None:
        intake = load(answers["intake_version"])
        account = Account(email=email, language=answers["language"], status="active", confirmed_at=now,
                          # Each account gets its own reminder weekday, so the weekly mail (and the reports it
                          # brings) is spread over the week; the person can choose another day in the settings.
                          reminder_weekday=secrets.randbelow(7))
        account.consents.append(Consent(version=answers["consent_version"], given_at=token.created_at))
        account.profiles.append(Profile(relation="self", intake_version=intake.id,
                                        intake_answers=dict(answers["intake_answers"]),
                                        **to_columns(intake, answers["intake_answers"])))
        try:
            with db.session.begin_nested():
                db.session.add(account)
        except IntegrityError:  # the same address confirmed by another link at the same moment
            account = db.session.scalar(select(Account).where(Account.email == email))
            if account is None:
                raise
        else:
            audit.citizen(account.id, "account.sign_up", consent_version=answers["consent_version"])
    token.account_id, token.email, token.sign_up = account.id, None, None
    db.session.execute(update(OutboxMessage).where(OutboxMessage.account_id.is_(None),
                                                   OutboxMessage.recipient == email)
                       .values(account_id=account.id).execution_options(synchronize_session=False))
    return account


def redeem_link(secret: str) -> Account:
    """Spend a confirmation or login link and open a web session for its account (``spend_link``)."""
    return spend_link(secret, _open_web_session)


def _open_web_session(account: Account, now: dt.datetime) -> Account:
    start_session(account=account)
    return account


def profiles_of(account_id: int) -> list[Profile]:
    """The account's profiles, the account holder's own first."""
    return list(db.session.scalars(select(Profile).where(Profile.account_id == account_id)
                                   .order_by(Profile.created_at, Profile.id)))


def log_out() -> None:
    end_session()
    db.session.commit()


def _issue_token(account: Account | None, purpose: str, *, email: str | None = None,
                 sign_up: dict[str, Any] | None = None) -> str:
    secret = new_secret()
    minutes = current_app.config["COVIDMETER_LOGIN_TOKEN_MINUTES"]
    db.session.add(LoginToken(token_hash=hash_secret(secret), account_id=account.id if account else None,
                              purpose=purpose, email=email, sign_up=sign_up, week=None,
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
    "no_account": lambda: _("There is no COVIDmeter account with this address"),
}


def _send(account: Account, kind: str, secret: str, *, member: bool = True) -> None:
    """The mail of a sign-up or login request; for an address without an account, ``account`` is a stand-in
    and ``member`` False (``reporting.accounts.mailing.send_to_account``)."""
    purpose = "confirm" if kind == "confirm" else "login"
    send_to_account(account, kind, MAIL_SUBJECTS[kind], category=purpose, member=member,
                    link=link_url(purpose, secret))
