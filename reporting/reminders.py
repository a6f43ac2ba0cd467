"""The weekly reminder mail.

``send_due_reminders(today)`` runs daily (scheduler job ``weekly-reminders``). An account is due on its
own ``reminder_weekday`` (spread over the week at sign-up, changeable in the settings) or on a later day of
the same ISO week if that run was missed, when it is active, has a consent that is not withdrawn, is not
paused (``reminders_paused_until`` before today) and not unsubscribed, and has a profile without a
report this week. Each due account gets ONE mail listing every profile with its own link, the
"nobody in my household was ill this week" link and a one-click unsubscribe link (also in the
``List-Unsubscribe`` headers, RFC 8058). The mail is enqueued in the outbox in the same transaction as a
``reminder_deliveries`` row, unique per account and week, so no account gets two reminders for a week,
whoever runs the job and however often.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask_babel import gettext as _
from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError

from .accounts.mailing import base_url, send_to_account
from .extensions import db
from .models import Account, Consent, Profile, ReminderDelivery, WeeklyReport
from .reports import weekly_links
from .weeks import monday_of

log = logging.getLogger(__name__)

BATCH = 200


def due_accounts(today: dt.date) -> list[int]:
    """Ids of the accounts that should get this week's reminder today."""
    week = monday_of(today)
    consented = exists().where(Consent.account_id == Account.id, Consent.withdrawn_at.is_(None))
    delivered = exists().where(ReminderDelivery.account_id == Account.id, ReminderDelivery.week == week)
    unreported = exists().where(
        Profile.account_id == Account.id,
        ~exists().where(and_(WeeklyReport.profile_id == Profile.id, WeeklyReport.week == week)))
    return list(db.session.scalars(
        select(Account.id).where(
            Account.status == "active", Account.unsubscribed_at.is_(None),
            (Account.reminders_paused_until.is_(None)) | (Account.reminders_paused_until < today),
            Account.reminder_weekday <= today.weekday(),
            consented, ~delivered, unreported)
        .order_by(Account.id)))


def _remind(account: Account, week: dt.date) -> None:
    profiles = db.session.scalars(select(Profile).where(Profile.account_id == account.id)
                                  .order_by(Profile.created_at, Profile.id)).all()
    db.session.add(ReminderDelivery(account_id=account.id, week=week, profiles=len(profiles)))
    db.session.flush()  # the unique key refuses a second delivery before any mail is written
    secret = weekly_links.issue(account, week)
    link = f"{base_url()}/week/{secret}"
    send_to_account(account, "weekly", lambda: _("How was your week? Your COVIDmeter report"), category="weekly",
                    week=week, nobody_ill=f"{link}/nobody-ill",
                    profile_links=[(p, f"{link}/report/{p.id}") for p in profiles],
                    login=f"{base_url()}/login")


def send_due_reminders(today: dt.date) -> int:
    """Enqueue this week's reminder for every account due today; returns how many were enqueued."""
    week = monday_of(today)
    ids = due_accounts(today)
    db.session.rollback()
    sent = 0
    for start in range(0, len(ids), BATCH):
        for account_id in ids[start:start + BATCH]:
            account = db.session.get(Account, account_id)
            if account is None:  # withdrew meanwhile
                continue
            try:
                with db.session.begin_nested():
                    _remind(account, week)
            except IntegrityError:  # another run delivered it meanwhile
                log.info("reminder for account %s, week %s already delivered", account_id, week)
                continue
            sent += 1
        db.session.commit()
    return sent
