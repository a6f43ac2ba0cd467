"""The mail outbox. Every mail is written to ``outbox_messages`` in the transaction that caused it, and
sent later by ``send_due`` (a scheduler job) over SMTP. Without an SMTP host, mail stays pending and the
development page /dev/outbox shows it."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask import current_app
from sqlalchemy import select

from .extensions import db
from .models import OutboxMessage, utcnow

BACKOFF_BASE_SECONDS = 60


def enqueue(recipient: str, subject: str, body_text: str, category: str,
            headers: dict[str, str] | None = None) -> OutboxMessage:
    """Add a message to the outbox in the current transaction (the caller commits)."""
    message = OutboxMessage(recipient=recipient, subject=subject, body_text=body_text, category=category,
                            headers=headers or {})
    db.session.add(message)
    return message


def smtp_configured() -> bool:
    return bool(current_app.config["COVIDMETER_SMTP_HOST"])


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    for name, value in (message.headers or {}).items():
        email[name] = value
    email.set_content(message.body_text)
    return email


def send_due(limit: int = 200, now: dt.datetime | None = None) -> dict[str, int]:
    """Send pending messages whose time has come. Failures back off exponentially and give up after
    COVIDMETER_MAIL_MAX_ATTEMPTS, leaving the error visible on the row."""
    if not smtp_configured():
        return {"sent": 0, "failed": 0, "retrying": 0}
    config = current_app.config
    now = now or utcnow()
    due = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    counts = {"sent": 0, "failed": 0, "retrying": 0}
    if not due:
        db.session.rollback()
        return counts
    try:
        smtp = _connect(config)
    except (OSError, smtplib.SMTPException) as exc:
        for message in due:
            _failed(message, exc, config, now, counts)
        db.session.commit()
        return counts
    try:
        for message in due:
            try:
                smtp.send_message(build_email(message, config["COVIDMETER_MAIL_FROM"]))
            except (OSError, smtplib.SMTPException) as exc:
                _failed(message, exc, config, now, counts)
            else:
                message.status, message.sent_at, message.last_error = "sent", utcnow(), None
                message.attempts += 1
                counts["sent"] += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        db.session.commit()
    return counts


def _connect(config: Any) -> smtplib.SMTP:
    host, port, timeout = config["COVIDMETER_SMTP_HOST"], config["COVIDMETER_SMTP_PORT"], config["COVIDMETER_SMTP_TIMEOUT"]
    if config["COVIDMETER_SMTP_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if config["COVIDMETER_SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
    if config["COVIDMETER_SMTP_USERNAME"]:
        smtp.login(config["COVIDMETER_SMTP_USERNAME"], config["COVIDMETER_SMTP_PASSWORD"] or "")
    return smtp


def _failed(message: OutboxMessage, exc: Exception, config: Any, now: dt.datetime, counts: dict[str, int]) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    if message.attempts >= config["COVIDMETER_MAIL_MAX_ATTEMPTS"]:
        message.status = "failed"
        counts["failed"] += 1
    else:
        message.next_attempt_at = now + dt.timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (message.attempts - 1))
        counts["retrying"] += 1
