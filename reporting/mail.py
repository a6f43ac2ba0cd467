"""The mail outbox. Every mail is written to ``outbox_messages`` in the transaction that caused it, and
sent later by ``send_due`` (a scheduler job) over SMTP. Without an SMTP host, mail stays pending and the
development page /dev/outbox shows it.

Handing a mail over happens one mail at a time, so that a crash re-sends at most the one mail in flight:

1. **Claim** the mail: ``attempts + 1`` and ``next_attempt_at`` moved a lease into the future
   (``lease_seconds``: 30 s + 12 times COVIDMETER_SMTP_TIMEOUT), committed before the mail is handed over.
   No other sender (a second scheduler, the next
   minute's run) takes a claimed mail: the claim is one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
   LOCKED) RETURNING`` on PostgreSQL, and the same statement is a compare-and-set on SQLite, whose writers
   take turns.
2. **Hand it to SMTP** over the batch's one connection.
3. **Record the outcome** (sent, backing off, failed), committed together with the claim of the next mail
   (one commit per mail), or alone at the end of the batch.

A crash between 1 and 3 leaves the mail pending with its lease: it is sent again once the lease is over,
the one possible duplicate. The Message-ID is derived from the outbox row (``message_id``), so that copy
carries the same Message-ID as the first and a receiving system that drops duplicates drops it. A mail
claimed more than COVIDMETER_MAIL_MAX_ATTEMPTS times is failed without another try ("gave up: claimed N
times without an outcome"): its sender died on it each time, and it must not take the outbox down with it.
A failed row's ``next_attempt_at`` says when it failed (``outbox_state`` counts the last 24 hours by it).

The server's answers decide what happens next (``_hand_over``):

- 2xx: sent.
- 5xx to the sender, the recipient or the message: **permanent**, failed at once, never retried
  (``last_error`` "permanent: <the server's answer>", a WARNING log line with the outbox id and Message-ID).
  A refused *sender* also stops the batch: every other mail has the same sender.
- 4xx, a refused or broken connection, a timeout before the message was sent: **temporary**, retried with
  exponential backoff (60 s, 120 s, ...) up to COVIDMETER_MAIL_MAX_ATTEMPTS, then failed ("gave up after
  N attempts: ...").
- No answer after the whole message was sent (the server may have accepted it, RFC 1047): the answer to the
  final dot is waited for ``DATA_END_TIMEOUT_FACTOR`` times COVIDMETER_SMTP_TIMEOUT (RFC 5321 4.5.3.2.6
  allows a server 10 minutes there), and if it still does not come the mail is failed with "outcome
  unknown: ..." and **not sent again**: a re-send would be a duplicate whenever the server did take it. An
  operator looks the Message-ID up in the relay's log and, if it never arrived, puts it back with
  ``requeue``.

A connection lost mid-batch is opened again for the rest; if that fails, every due mail backs off (as when
the first connection fails), and after two mails in a row that lost the connection the batch stops (the
rest waits for the next run, untouched). ``outbox_state`` and ``outbox_report`` show operators the outbox
with its recent failures (``covidmeter jobs``).

Addresses never reach a log line or ``last_error``: the server's answer is stored with any address in it
replaced by ``[address]`` (the row's ``recipient`` says whom it was for).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from flask import current_app
from sqlalchemy import Boolean, Connection, Text, and_, bindparam, func, or_, select, update

from .extensions import db
from .models import OutboxMessage, utcnow
from .models.base import UTCDateTime

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 60
# The answer to the final "." of DATA is waited for this many times COVIDMETER_SMTP_TIMEOUT (every other
# answer: once): after it, the server has the whole message and a timeout leaves the outcome unknown.
DATA_END_TIMEOUT_FACTOR = 5
# A claimed mail is someone's for this long; it must cover one hand-over: MAIL, RCPT, DATA, the message and
# (DATA_END_TIMEOUT_FACTOR times as long) the final answer, each bounded by the timeout, plus a margin.
LEASE_BASE_SECONDS = 30
LEASE_TIMEOUT_FACTOR = 12
# After this many mails in a row whose connection broke, the batch stops (the rest waits for the next run).
MAX_CONNECTION_LOSSES = 2
RECENT_FAILURES = dt.timedelta(hours=24)

# What became of a hand-over; the failures' names begin their ``last_error``.
SENT = "sent"
TEMPORARY = "temporary"
PERMANENT = "permanent"
UNKNOWN = "outcome unknown"
GAVE_UP = "gave up"

_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")


def enqueue(recipient: str, subject: str, body_text: str, category: str,
            headers: dict[str, str] | None = None) -> OutboxMessage:
    """Add a message to the outbox in the current transaction (the caller commits)."""
    message = OutboxMessage(recipient=recipient, subject=subject, body_text=body_text, category=category,
                            headers=headers or {})
    db.session.add(message)
    return message


def smtp_configured() -> bool:
    return bool(current_app.config["COVIDMETER_SMTP_HOST"])


def _domain(sender: str) -> str:
    return sender.rsplit("@", 1)[-1].rstrip(">").strip() or "covidmeter.local"


def message_id(outbox_id: int, created_at: dt.datetime, sender: str) -> str:
    """The Message-ID of an outbox row: the same on every attempt (a re-sent copy is recognisably the same
    mail), opaque (it does not tell how many mails the service has sent) and unique per instance (keyed by
    the secret key, and the row's creation time against ids of a rebuilt database)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    stamp = created_at.astimezone(dt.timezone.utc).isoformat()
    digest = hmac.new(key, f"outbox:{outbox_id}:{stamp}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"<{digest}@{_domain(sender)}>"


def build_email(message: Any, sender: str) -> EmailMessage:
    """The mail of an outbox row (an ``OutboxMessage`` or a row with its columns)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message.id, message.created_at, sender)
    for name, value in (message.headers or {}).items():
        email[name] = value
    email.set_content(message.body_text)
    return email


def lease_seconds(config: Any) -> float:
    """How long a claimed mail stays its sender's (COVIDMETER_SMTP_TIMEOUT 10 s: 150 s)."""
    return LEASE_BASE_SECONDS + LEASE_TIMEOUT_FACTOR * float(config["COVIDMETER_SMTP_TIMEOUT"])


def mask_addresses(text: str) -> str:
    return _ADDRESS.sub("[address]", text)


@dataclass
class _Outcome:
    kind: str  # SENT | TEMPORARY | PERMANENT | UNKNOWN | GAVE_UP
    error: str | None = None
    connection_lost: bool = False
    stop_batch: bool = False


def send_due(limit: int = 200, now: dt.datetime | None = None) -> dict[str, int]:
    """Send up to ``limit`` pending messages whose time has come, one claimed mail at a time (see the module
    docstring). Returns how many were sent, failed for good and are retrying."""
    counts = {"sent": 0, "failed": 0, "retrying": 0}
    if not smtp_configured():
        return counts
    config = current_app.config
    now = now or utcnow()
    started = time.monotonic()
    lease = dt.timedelta(seconds=lease_seconds(config))

    def clock() -> dt.datetime:  # ``now`` as the batch goes on (tests pass a ``now`` of their own)
        return now + dt.timedelta(seconds=time.monotonic() - started)

    table = OutboxMessage.__table__
    with db.engine.connect() as connection:
        if connection.execute(select(table.c.id).where(*_due(now)).limit(1)).first() is None:
            connection.rollback()
            return counts
        connection.rollback()
        smtp: smtplib.SMTP | None = None
        settle: dict[str, Any] | None = None  # the last mail's outcome, written with the next claim
        losses = handled = 0
        try:
            while handled < limit:
                if smtp is None:
                    try:
                        smtp = _connect(config)
                    except (OSError, smtplib.SMTPException) as exc:
                        _write(connection, settle)
                        settle = None
                        _back_off_all(connection, exc, config, now, clock(), limit - handled, counts)
                        break
                claimed = _claim(connection, settle, now, clock() + lease)
                settle = None
                if claimed is None:
                    break
                handled += 1
                if claimed.attempts > config["COVIDMETER_MAIL_MAX_ATTEMPTS"]:
                    # Claimed that often without an outcome: its sender died on it each time. Not again.
                    outcome = _Outcome(GAVE_UP, f"claimed {claimed.attempts - 1} times without an outcome (the "
                                                "sender stopped or crashed on it)")
                else:
                    outcome = _hand_over(smtp, claimed, config)
                settle = _settlement(claimed, outcome, config, clock(), counts)
                if outcome.connection_lost:
                    _close(smtp)
                    smtp = None
                    losses += 1
                    _write(connection, settle)  # before the reconnection, which may take a while
                    settle = None
                else:
                    losses = 0
                if outcome.stop_batch or losses >= MAX_CONNECTION_LOSSES:
                    break
        finally:
            try:
                if settle is not None:
                    if connection.in_transaction():  # a statement failed: nothing of ours is uncommitted
                        connection.rollback()
                    _write(connection, settle)
            finally:
                if smtp is not None:
                    try:
                        smtp.quit()
                    except (OSError, smtplib.SMTPException):
                        _close(smtp)
    return counts


def _due(now: dt.datetime) -> tuple[Any, ...]:
    table = OutboxMessage.__table__
    return table.c.status == "pending", table.c.next_attempt_at <= now


def _claim_statements() -> tuple[Any, Any, Any]:
    """The statements of a claim, built once: (settle, claim, settle-and-claim in one statement for
    PostgreSQL, where the outcome's UPDATE is a data-modifying WITH of the claim)."""
    table = OutboxMessage.__table__
    now = bindparam("c_now", type_=UTCDateTime())
    due = (table.c.status == "pending", table.c.next_attempt_at <= now)
    candidate = (select(table.c.id).where(*due).order_by(table.c.next_attempt_at, table.c.id).limit(1)
                 .with_for_update(skip_locked=True).scalar_subquery())
    claim = (update(table).where(table.c.id == candidate, *due)
             .values(attempts=table.c.attempts + 1, next_attempt_at=bindparam("c_lease_until", type_=UTCDateTime()))
             .returning(table.c.id, table.c.recipient, table.c.subject, table.c.body_text, table.c.headers,
                        table.c.category, table.c.created_at, table.c.attempts))
    # A mail that was delivered is marked sent whatever became of its row meanwhile; any other outcome is
    # written only if the row is still pending.
    settle = (update(table)
              .where(table.c.id == bindparam("s_id"), or_(table.c.status == "pending", bindparam("s_delivered", type_=Boolean())))
              .values(status=bindparam("s_status"),
                      sent_at=func.coalesce(bindparam("s_sent_at", type_=UTCDateTime()), table.c.sent_at),
                      next_attempt_at=func.coalesce(bindparam("s_next", type_=UTCDateTime()), table.c.next_attempt_at),
                      last_error=bindparam("s_error", type_=Text())))
    return settle, claim, claim.add_cte(settle.cte("settled"))


_SETTLE, _CLAIM, _SETTLE_AND_CLAIM = _claim_statements()


def _claim(connection: Connection, settle: dict[str, Any] | None, now: dt.datetime,
           lease_until: dt.datetime) -> Any:
    """Write the previous mail's outcome (if any) and claim the next due mail, in one transaction (on
    PostgreSQL in one statement)."""
    params = {"c_now": now, "c_lease_until": lease_until}
    if settle is None:
        claimed = connection.execute(_CLAIM, params).first()
    elif connection.dialect.name == "postgresql":
        claimed = connection.execute(_SETTLE_AND_CLAIM, {**params, **settle}).first()
    else:
        connection.execute(_SETTLE, settle)
        claimed = connection.execute(_CLAIM, params).first()
    connection.commit()
    return claimed


def _write(connection: Connection, settle: dict[str, Any] | None) -> None:
    """Write an outcome in a transaction of its own (at the end of a batch, before a reconnection)."""
    if settle is not None:
        connection.execute(_SETTLE, settle)
        connection.commit()


def _outcome_row(outbox_id: int, status: str, error: str | None, *, sent_at: dt.datetime | None = None,
                 next_attempt_at: dt.datetime | None = None) -> dict[str, Any]:
    return {"s_id": outbox_id, "s_status": status, "s_delivered": status == "sent", "s_sent_at": sent_at,
            "s_next": next_attempt_at, "s_error": error}


def _settlement(claimed: Any, outcome: _Outcome, config: Any, at: dt.datetime,
                counts: dict[str, int]) -> dict[str, Any]:
    """The parameters of ``_SETTLE`` that write what became of a claimed mail."""
    if outcome.kind == SENT:
        counts["sent"] += 1
        return _outcome_row(claimed.id, "sent", None, sent_at=at)
    mid = message_id(claimed.id, claimed.created_at, config["COVIDMETER_MAIL_FROM"])
    if outcome.kind == TEMPORARY:
        status, next_attempt_at, error = _retry_or_give_up(claimed.id, claimed.category, claimed.attempts,
                                                           outcome.error or "", mid, config, at, counts)
        return _outcome_row(claimed.id, status, error, next_attempt_at=next_attempt_at)
    counts["failed"] += 1
    error = f"{outcome.kind}: {outcome.error}"
    log.warning("mail %d (%s, Message-ID %s) failed for good after %d attempt(s): %s", claimed.id,
                claimed.category, mid, claimed.attempts, error)
    # A failed row's next_attempt_at says when it failed (no attempt follows).
    return _outcome_row(claimed.id, "failed", error[:1000], next_attempt_at=at)


def _retry_or_give_up(outbox_id: int, category: str, attempts: int, error: str, mid: str, config: Any,
                      at: dt.datetime, counts: dict[str, int]) -> tuple[str, dt.datetime, str]:
    """(status, next_attempt_at, last_error) after a temporary failure: back off, or fail after the last
    attempt allowed."""
    if attempts >= config["COVIDMETER_MAIL_MAX_ATTEMPTS"]:
        counts["failed"] += 1
        text = f"{GAVE_UP} after {attempts} attempts: {error}"
        log.warning("mail %d (%s, Message-ID %s) failed for good: %s", outbox_id, category, mid, text)
        return "failed", at, text[:1000]
    counts["retrying"] += 1
    delay = dt.timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    return "pending", at + delay, f"{TEMPORARY}: {error}"[:1000]


def _back_off_all(connection: Connection, exc: Exception, config: Any, now: dt.datetime, at: dt.datetime,
                  limit: int, counts: dict[str, int]) -> None:
    """The server cannot be reached: every due mail (up to ``limit``) counts an attempt and backs off, in
    one transaction. Each row is updated only if it is still as read (compare-and-set), so a mail another
    sender has claimed meanwhile is left to it."""
    table = OutboxMessage.__table__
    error = _describe(exc)
    log.warning("the SMTP server cannot be reached, due mail backs off: %s", error)
    due = connection.execute(
        select(table.c.id, table.c.category, table.c.attempts, table.c.created_at).where(*_due(now))
        .order_by(table.c.next_attempt_at, table.c.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    sender = config["COVIDMETER_MAIL_FROM"]
    for row in due:
        status, next_attempt_at, last_error = _retry_or_give_up(
            row.id, row.category, row.attempts + 1, error, message_id(row.id, row.created_at, sender), config,
            at, counts)
        connection.execute(update(table).where(table.c.id == row.id, table.c.attempts == row.attempts, *_due(now))
                           .values(attempts=row.attempts + 1, status=status, next_attempt_at=next_attempt_at,
                                   last_error=last_error))
    connection.commit()


class _HandoverMixin:
    """Knows whether the whole message has reached the server (``content_sent``) and waits longer for the
    answer to the final dot than for the others."""

    content_sent = False
    data_end_timeout: float | None = None

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        smtp: Any = self
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
        quoted = re.sub(rb"(?m)^\.", b"..", msg)
        if quoted[-2:] != b"\r\n":
            quoted += b"\r\n"
        smtp.send(quoted + b".\r\n")
        self.content_sent = True
        if smtp.sock is not None and self.data_end_timeout:
            smtp.sock.settimeout(self.data_end_timeout)
        try:
            return smtp.getreply()
        finally:
            if smtp.sock is not None:
                smtp.sock.settimeout(smtp.timeout)


class _SMTP(_HandoverMixin, smtplib.SMTP):
    pass


class _SMTP_SSL(_HandoverMixin, smtplib.SMTP_SSL):
    pass


def _connect(config: Any) -> smtplib.SMTP:
    host, port, timeout = config["COVIDMETER_SMTP_HOST"], config["COVIDMETER_SMTP_PORT"], config["COVIDMETER_SMTP_TIMEOUT"]
    smtp: _SMTP | _SMTP_SSL
    if config["COVIDMETER_SMTP_SSL"]:
        smtp = _SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = _SMTP(host, port, timeout=timeout)
    try:
        smtp.data_end_timeout = DATA_END_TIMEOUT_FACTOR * float(timeout)
        if not config["COVIDMETER_SMTP_SSL"] and config["COVIDMETER_SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo_or_helo_if_needed()
        if config["COVIDMETER_SMTP_USERNAME"]:
            smtp.login(config["COVIDMETER_SMTP_USERNAME"], config["COVIDMETER_SMTP_PASSWORD"] or "")
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def _answer(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return mask_addresses(f"{code} {' '.join(text.split())}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {_answer(exc.smtp_code, exc.smtp_error)}"
    return mask_addresses(f"{type(exc).__name__}: {exc}")


def _hand_over(smtp: Any, claimed: Any, config: Any) -> _Outcome:
    """Send one claimed mail and say what became of it."""
    try:
        email = build_email(claimed, config["COVIDMETER_MAIL_FROM"])
    except (ValueError, TypeError, UnicodeError) as exc:  # a header no mail can carry: no server takes it
        return _Outcome(PERMANENT, f"the mail could not be written: {_describe(exc)}")
    smtp.content_sent = False
    try:
        smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient (there is one) refused
        codes = [code for code, _ in exc.recipients.values()]
        answer = "; ".join(_answer(code, text) for code, text in exc.recipients.values())
        kind = PERMANENT if codes and all(500 <= code < 600 for code in codes) else TEMPORARY
        return _Outcome(kind, f"recipient refused: {answer}", connection_lost=smtp.sock is None)
    except smtplib.SMTPResponseException as exc:  # sender refused, message refused, or another answer
        if smtp.content_sent and not 400 <= exc.smtp_code < 600:  # the server has it and said nothing clear
            return _Outcome(UNKNOWN, f"no clear answer after the message was sent, it may have been delivered "
                                     f"({_describe(exc)}); not sent again so as not to send it twice",
                            connection_lost=True)
        permanent = 500 <= exc.smtp_code < 600
        what = {smtplib.SMTPSenderRefused: "sender refused", smtplib.SMTPDataError: "message refused"}.get(
            type(exc), "refused")
        return _Outcome(PERMANENT if permanent else TEMPORARY, f"{what}: {_answer(exc.smtp_code, exc.smtp_error)}",
                        connection_lost=smtp.sock is None,
                        stop_batch=permanent and isinstance(exc, smtplib.SMTPSenderRefused))
    except smtplib.SMTPNotSupportedError as exc:  # e.g. an address needs SMTPUTF8 and the server has none
        return _Outcome(PERMANENT, _describe(exc))
    except (OSError, smtplib.SMTPException) as exc:  # timeout, disconnection, reset (SMTPException is an OSError)
        if smtp.content_sent:
            return _Outcome(UNKNOWN, f"no answer after the message was sent, it may have been delivered "
                                       f"({_describe(exc)}); not sent again so as not to send it twice",
                            connection_lost=True)
        return _Outcome(TEMPORARY, _describe(exc), connection_lost=True)
    except Exception as exc:  # noqa: BLE001  (a fault of ours: counted as an attempt, the batch goes on)
        log.error("mail %d could not be handed over: %s", claimed.id, _describe(exc))
        kind = UNKNOWN if smtp.content_sent else TEMPORARY
        return _Outcome(kind, f"unexpected error: {_describe(exc)}", connection_lost=True)
    return _Outcome(SENT)


def requeue(outbox_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Put failed mails back in the queue (an operator's decision, e.g. after an "outcome unknown" the relay's
    log shows never arrived, or after fixing a refused sender address): pending, due now, attempts from 0.
    Returns how many were requeued."""
    ids = list(outbox_ids)
    if not ids:
        return 0
    table = OutboxMessage.__table__
    with db.engine.begin() as connection:
        count = connection.execute(
            update(table).where(table.c.id.in_(ids), table.c.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now or utcnow(), last_error=None)).rowcount
    log.warning("requeued %d failed mail(s): %s", count, ", ".join(str(i) for i in ids))
    return count


@dataclass(frozen=True)
class FailedMail:
    id: int
    category: str
    attempts: int
    failed_at: dt.datetime
    last_error: str


@dataclass(frozen=True)
class OutboxState:
    """The outbox as operators see it (``covidmeter jobs``)."""

    pending: int
    due: int
    retrying: int  # pending, with at least one failed attempt behind it
    oldest_due_at: dt.datetime | None
    sent: int
    failed: int
    failed_recently: int  # in the last 24 hours
    recent_failures: Sequence[FailedMail] = field(default_factory=tuple)  # the latest few of those


def outbox_state(now: dt.datetime | None = None, show: int = 5) -> OutboxState:
    now = now or utcnow()
    table = OutboxMessage.__table__
    with db.engine.connect() as connection:
        by_status = dict(connection.execute(select(table.c.status, func.count()).group_by(table.c.status)).all())
        pending = table.c.status == "pending"
        due, oldest = connection.execute(
            select(func.count(), func.min(table.c.next_attempt_at)).where(*_due(now))).one()
        retrying = connection.execute(select(func.count()).where(
            pending, table.c.attempts > 0, table.c.last_error.is_not(None))).scalar_one()
        recent = and_(table.c.status == "failed", table.c.next_attempt_at >= now - RECENT_FAILURES)
        failed_recently = connection.execute(select(func.count()).where(recent)).scalar_one()
        failures = connection.execute(
            select(table.c.id, table.c.category, table.c.attempts, table.c.next_attempt_at, table.c.last_error)
            .where(recent).order_by(table.c.next_attempt_at.desc(), table.c.id.desc()).limit(show)).all()
    return OutboxState(
        pending=by_status.get("pending", 0), due=due, retrying=retrying, oldest_due_at=oldest,
        sent=by_status.get("sent", 0), failed=by_status.get("failed", 0), failed_recently=failed_recently,
        recent_failures=tuple(FailedMail(f.id, f.category, f.attempts, f.next_attempt_at, f.last_error or "")
                              for f in failures))


def outbox_report(state: OutboxState | None = None) -> list[str]:
    """The lines ``covidmeter jobs`` prints about the outbox."""
    state = state or outbox_state()
    due = f"{state.due} due now"
    if state.oldest_due_at is not None:
        due += f" (the oldest since {state.oldest_due_at:%Y-%m-%d %H:%M} UTC)"
    lines = [f"mail outbox: {state.pending} pending, {state.failed} failed ({state.failed_recently} in the last "
             f"24 h), {state.sent} sent; {due}, {state.retrying} retrying with backoff"]
    for failure in state.recent_failures:
        lines.append(f"    failed {failure.failed_at:%Y-%m-%d %H:%M} UTC: mail {failure.id} ({failure.category}) "
                     f"after {failure.attempts} attempt(s): {failure.last_error[:200]}")
    if state.failed_recently > len(state.recent_failures):
        lines.append(f"    ... and {state.failed_recently - len(state.recent_failures)} more in the last 24 h")
    return lines
