"""Accounts (who can be mailed), consents, and the pseudonymous profiles that report.

The e-mail address lives only on ``Account``. Health answers live on reports, which name a profile by
its random pseudonym; nothing on a report points at an e-mail address.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow

SEXES = ("female", "male", "other")
RELATIONS = ("self", "child", "parent", "partner", "other")


# Tables whose integer ids leave the table (links, exports, events) or name a person never give an id twice:
# AUTOINCREMENT on SQLite (migration 0010_ids); PostgreSQL's sequences never reuse a value.
NEVER_REUSED = {"sqlite_autoincrement": True}


def new_pseudonym() -> str:
    return secrets.token_hex(16)


def new_unsubscribe_key() -> str:
    """The random value an account's unsubscribe links are bound to (signed; it dies with the account)."""
    return secrets.token_hex(16)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("status IN ('pending', 'active')", name="status"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    # What an unsubscribe link names (signed with the secret key): random, never an id, gone with the account.
    unsubscribe_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_unsubscribe_key)
    language: Mapped[str] = mapped_column(String(2), default="da")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[dt.datetime | None]
    reminders_paused_until: Mapped[dt.date | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    reminder_weekday: Mapped[int] = mapped_column(SmallInteger, default=0)  # 0 = Monday

    profiles: Mapped[list["Profile"]] = relationship(back_populates="account", order_by="Profile.created_at")
    consents: Mapped[list["Consent"]] = relationship(back_populates="account", order_by="Consent.given_at")


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]

    account: Mapped[Account] = relationship(back_populates="consents")


class Profile(Base):
    """A person who reports: the account holder or someone they report for."""

    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("sex IN ('female', 'male', 'other')", name="sex"),
        CheckConstraint("relation IN ('self', 'child', 'parent', 'partner', 'other')", name="relation"),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year"),
        # The participation estimates count profiles by municipality and registration time (an index-only
        # scan instead of reading every profile: scheduler.incidence.participation.count_registrations).
        Index("ix_profiles_municipality_created", "municipality_code", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_pseudonym)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(16), default="self")
    display_name: Mapped[str | None] = mapped_column(String(64))  # optional label chosen by the account holder
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    sex: Mapped[str] = mapped_column(String(8))
    municipality_code: Mapped[int] = mapped_column(ForeignKey("municipalities.code"))
    intake_version: Mapped[str] = mapped_column(String(32))
    intake_answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(back_populates="profiles")
