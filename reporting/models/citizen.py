"""Citizen self-service: weekly reminder deliveries, pending e-mail changes, and the record that a
withdrawal happened (which keeps no health data and no e-mail address)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ReminderDelivery(Base):
    """One weekly reminder mail per account per ISO week: the unique key makes a second run, a second
    scheduler or a retry after a crash harmless (the mail is enqueued in the same transaction)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (UniqueConstraint("account_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    week: Mapped[dt.date]  # the Monday of the ISO week the mail asks about
    profiles: Mapped[int] = mapped_column(SmallInteger)  # how many profile links the mail listed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EmailChange(Base):
    """A requested change of e-mail address, waiting for the link mailed to the new address."""

    __tablename__ = "email_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class Withdrawal(Base):
    """That someone withdrew consent and when, kept after their data is deleted. Deliberately nothing
    that identifies the person: no account id, no e-mail address, no answers."""

    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    withdrawn_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))  # web | api
    profiles_deleted: Mapped[int] = mapped_column(SmallInteger)
    reports_deleted: Mapped[int]
