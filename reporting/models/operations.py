"""Operational tables: job claims, the append-only audit log, the mail outbox, instance facts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .people import NEVER_REUSED


class JobRun(Base):
    """A claim on one run of a periodic job for one period. The unique key makes a second scheduler, a
    restart or a manual re-run of the same period harmless.

    A ``running`` claim is a lease: its holder (``owner``) refreshes ``heartbeat_at`` every few seconds, and a
    claim whose heartbeat is older than the lease belongs to a dead or frozen process and is taken over
    (scheduler.claims). ``interrupted``: handed back at shutdown, re-run at the next start; ``missed``: not run
    within the job's grace, reported until run by hand or ``dismissed``."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_name", "period"),
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'interrupted', 'missed', 'dismissed')",
                        name="status"),
        Index("ix_job_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    detail: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[dt.datetime | None]  # the scheduled time this run is for (a re-run does the same work)
    heartbeat_at: Mapped[dt.datetime | None]
    owner: Mapped[str | None] = mapped_column(String(200))  # host:pid:boot+pid-ns key:run id of the holder
    attempts: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")


class AuditEvent(Base):
    """Append-only: database triggers (see the migration) refuse UPDATE and DELETE for every role.
    Never put health answers here."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_occurred_at", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff | token | citizen | system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """Every mail goes through here: written in the same transaction as what caused it, sent later."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    # The account a citizen mail is about, whichever address it goes to (an old or a new one): the mail is
    # deleted with the account (withdrawal, retention), sent or not.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    category: Mapped[str] = mapped_column(String(32))  # confirm | login | weekly | ...
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Pending: when it may be tried (again); while a sender holds it, the end of its lease (reporting.mail).
    # Failed: when it failed.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class InstanceFact(Base):
    """Small facts about this database, such as whether it was built by ``covidmeter demo``."""

    __tablename__ = "instance_facts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
