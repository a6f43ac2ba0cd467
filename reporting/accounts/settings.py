"""Self-service settings: language, reminder day, pausing and stopping the weekly reminder, and a
change of e-mail address confirmed from the new address.

E-mail change without enumeration: whoever asks gets the same answer ("we sent a link to the new
address"). If the new address is free, it receives a confirmation link (single-use, stored hashed,
COVIDMETER_LOGIN_TOKEN_MINUTES, spent only by a POST); if it already belongs to an account, its owner is
told that someone tried, and nothing changes. After the change the old address is told.

Each public function is one transaction and commits it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from .. import audit
from ..extensions import db
from ..i18n import LANGUAGES
from ..models import Account, EmailChange, utcnow
from ..security import hash_secret, new_secret
from .mailing import base_url, send_to_account
from .service import normalise_email

PAUSE_WEEKS = (1, 2, 4, 8)


class ChangeNotValid(Exception):
    """The e-mail change link is unknown, used or expired, or the address was taken meanwhile."""


@dataclass(frozen=True)
class PendingEmailChange:
    new_email: str
    expires_at: dt.datetime


def account(account_id: int) -> Account:
    found = db.session.get(Account, account_id)
    if found is None:
        raise LookupError(account_id)
    return found


def update_preferences(account_id: int, *, language: str, reminder_weekday: int) -> None:
    if language not in LANGUAGES or not 0 <= reminder_weekday <= 6:
        raise ValueError("language or weekday out of range")
    row = account(account_id)
    row.language, row.reminder_weekday = language, reminder_weekday
    audit.citizen(account_id, "account.preferences")
    db.session.commit()


def pause_reminders(account_id: int, until: dt.date | None) -> None:
    """No reminder until (and including) ``until``; None resumes them."""
    row = account(account_id)
    row.reminders_paused_until = until
    audit.citizen(account_id, "account.reminders_paused" if until else "account.reminders_resumed")
    db.session.commit()


def unsubscribe(account_id: int, *, channel: str) -> bool:
    """Stop the weekly reminder (one click from any mail). Returns False if it was already stopped (or the
    account no longer exists)."""
    row = db.session.get(Account, account_id, with_for_update=True)
    if row is None or row.unsubscribed_at is not None:
        db.session.rollback()
        return False
    row.unsubscribed_at = utcnow()
    audit.citizen(account_id, "account.unsubscribed", channel=channel)
    db.session.commit()
    return True


def resubscribe(account_id: int) -> None:
    row = account(account_id)
    row.unsubscribed_at = None
    audit.citizen(account_id, "account.resubscribed")
    db.session.commit()


def request_email_change(account_id: int, new_email: str) -> None:
    """See the module docstring. Raises InvalidEmail for a malformed address."""
    new_email = normalise_email(new_email)
    row = account(account_id)
    if new_email == row.email:
        db.session.rollback()
        return
    taken = db.session.scalar(select(Account).where(Account.email == new_email))
    if taken is not None:
        send_to_account(taken, "email_taken", lambda: _("Someone tried to use your e-mail address"),
                        category="email_change")
        audit.citizen(account_id, "account.email_change_refused")
        db.session.commit()
        return
    secret = new_secret()
    minutes = current_app.config["COVIDMETER_LOGIN_TOKEN_MINUTES"]
    db.session.add(EmailChange(account_id=account_id, new_email=new_email, token_hash=hash_secret(secret),
                               expires_at=utcnow() + dt.timedelta(minutes=minutes)))
    send_to_account(row, "email_change", lambda: _("Confirm your new e-mail address for COVIDmeter"),
                    category="email_change", recipient=new_email,
                    link=f"{base_url()}/me/email/confirm/{secret}")
    audit.citizen(account_id, "account.email_change_requested")
    db.session.commit()


def inspect_email_change(secret: str) -> PendingEmailChange:
    change = db.session.scalar(select(EmailChange).where(EmailChange.token_hash == hash_secret(secret or "")))
    usable = change is not None and change.used_at is None and change.expires_at > utcnow()
    pending = PendingEmailChange(change.new_email, change.expires_at) if usable and change else None
    db.session.rollback()
    if pending is None:
        raise ChangeNotValid()
    return pending


def confirm_email_change(secret: str) -> Account:
    """Spend the link (conditional UPDATE: once) and change the address; the old address is told."""
    now = utcnow()
    token_hash = hash_secret(secret or "")
    spent = db.session.execute(
        update(EmailChange).where(EmailChange.token_hash == token_hash, EmailChange.used_at.is_(None),
                                  EmailChange.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        db.session.rollback()
        raise ChangeNotValid()
    change = db.session.scalar(select(EmailChange).where(EmailChange.token_hash == token_hash))
    if db.session.scalar(select(Account.id).where(Account.email == change.new_email)) is not None:
        db.session.rollback()
        raise ChangeNotValid()  # taken since the link was sent
    row = account(change.account_id)
    old_email = row.email
    row.email = change.new_email
    send_to_account(row, "email_changed", lambda: _("Your COVIDmeter e-mail address was changed"),
                    category="email_change", recipient=old_email, new_email=change.new_email)
    audit.citizen(row.id, "account.email_changed")
    db.session.commit()
    return row
