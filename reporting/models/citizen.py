"""Citizen self-service: weekly reminder deliveries, pending e-mail changes, and the record that a
withdrawal happened (which keeps no health data and no e-mail address)."""

from __future__ import annotations

import datetime as dt

from typing import Any

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .people import NEVER_REUSED


class ReminderDelivery(Base):
    """One weekly reminder mail per account per ISO week: the unique key makes a second run, a second
    scheduler or a retry after a crash harmless (the mail is enqueued in the same transaction)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (UniqueConstraint("account_id", "week"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    week: Mapped[dt.date]  # the Monday of the ISO week the mail asks about
    profiles: Mapped[int] = mapped_column(SmallInteger)  # how many profile links the mail listed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EmailChange(Base):
    """A requested change of e-mail address, waiting for the link mailed to the new address."""

    __tablename__ = "email_changes"
    __table_args__ = (NEVER_REUSED,)

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


class CitizenEvent(Base):
    """What a citizen did (signed up, logged in, changed settings, added a person, exported, ...), kept for
    the person's own data export and for security questions while the account exists. Deliberately not
    in the append-only ``audit_log``: it goes with the account (ON DELETE CASCADE), so nothing of it
    outlives a withdrawal; only the ``withdrawals`` row says that one happened. Never health answers."""

    __tablename__ = "citizen_events"
    __table_args__ = (Index("ix_citizen_events_account_id_occurred_at", "account_id", "occurred_at"),
                      NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # citizen | weekly_link | anonymous | system
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
