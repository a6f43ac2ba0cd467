"""Credentials: login links, server-side sessions, staff users and API tokens.

Every secret is stored as a SHA-256 hash of a high-entropy random value; the value itself is shown or
mailed once and never stored.
"""

from __future__ import annotations

import datetime as dt

from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, SmallInteger, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .people import NEVER_REUSED, Account

STAFF_ROLES = ("epidemiologist", "authority", "admin")


class LoginToken(Base):
    """A single-use link sent by mail. ``weekly`` tokens are narrower: they may only submit reports for
    their account's profiles in one ISO week, and show no stored data.

    A sign-up makes no account until its link is opened: its ``confirm`` token carries the address
    (``email``) and what the sign-up form said (``sign_up``), and no account; spending it makes the account
    and clears both. A login request for an address without an account writes a token bound to nothing,
    which no mail carries and nothing can spend, so that both cases do the same work
    (reporting.accounts.service)."""

    __tablename__ = "login_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('confirm', 'login', 'weekly')", name="purpose"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # a sign-up's address, until spent
    # A sign-up's answers (language, consent, intake), until spent; None is SQL NULL, not JSON null.
    sign_up: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"))
    purpose: Mapped[str] = mapped_column(String(16))
    week: Mapped[dt.date | None]  # for purpose 'weekly': the Monday of the ISO week it may report
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    account: Mapped[Account | None] = relationship()


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint("role IN ('epidemiologist', 'authority', 'admin')", name="role"),
                      NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # TOTP (issue 5): the secret counts only once confirmed with a code; the last accepted time-step blocks
    # a replayed code.
    totp_confirmed_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None]


class UserSession(Base):
    """A server-side session: the cookie holds only a random id, so logout and revocation are real."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint("(account_id IS NULL) <> (staff_user_id IS NULL)", name="one_owner"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    # Shown to an admin in the list of active sessions (issue 5), so a session can be recognised and revoked.
    user_agent: Mapped[str | None] = mapped_column(String(200))
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    staff_user: Mapped[StaffUser | None] = relationship()
    account: Mapped[Account | None] = relationship()


class ApiToken(Base):
    """A machine credential for authorities' systems, sent as ``Authorization: Bearer <token>``."""

    __tablename__ = "api_tokens"
    # A name is unique per owner, not across owners: a taken name must not tell one authority what another
    # called its token (tokens made with the command line, without owner, are kept unique by the service).
    __table_args__ = (UniqueConstraint("staff_user_id", "name"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings so a token can be recognised
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200), default="export:read")  # space-separated
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    # The staff user who created it in the app (issue 5); NULL for tokens made with the command line.
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"),
                                                      index=True)
