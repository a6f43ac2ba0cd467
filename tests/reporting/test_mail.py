"""The outbox sends through a real SMTP server (aiosmtpd on loopback), and backs off when it cannot."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from reporting import mail
from reporting.extensions import db
from reporting.models import OutboxMessage

from .citizens import SIGN_UP, LINK


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def rows(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_sign_up_mail_is_delivered_over_smtp(app: Flask, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=port)
    client = app.test_client()
    assert client.post("/signup?lang=da", data=SIGN_UP).status_code == 302
    assert inbox.messages == []  # written to the outbox in the sign-up transaction, not sent by the request
    with app.app_context():
        assert mail.send_due() == {"sent": 1, "failed": 0, "retrying": 0}
    (sender, recipients, message), = inbox.messages
    assert recipients == ["ida@example.dk"] and sender == "noreply@covidmeter.local"
    assert message["To"] == "ida@example.dk"
    assert message["Subject"] == "Bekræft din e-mailadresse til COVIDmeter"  # encoded on the wire, decoded here
    body = message.get_content()
    link = LINK.search(body).group(0)
    assert link.startswith("http://localhost/signup/confirm/")
    (row,) = rows(app)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None and row.last_error is None
    # The link that arrived by mail works.
    assert client.post(link.removeprefix("http://localhost")).status_code == 302
    assert client.get("/me").status_code == 200
    with app.app_context():  # nothing is sent twice
        assert mail.send_due() == {"sent": 0, "failed": 0, "retrying": 0}
    assert len(inbox.messages) == 1


def test_unreachable_server_backs_off_then_gives_up(app: Flask) -> None:
    port = free_port()  # nothing listens here: connection refused
    app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=port, COVIDMETER_MAIL_MAX_ATTEMPTS=3)
    with app.app_context():
        mail.enqueue("ida@example.dk", "Hello", "Body", category="login")
        db.session.commit()
        start = dt.datetime.now(dt.timezone.utc)
        assert mail.send_due(now=start) == {"sent": 0, "failed": 0, "retrying": 1}
    (row,) = rows(app)
    assert row.status == "pending" and row.attempts == 1 and "Connection refused" in row.last_error
    assert row.next_attempt_at == start + dt.timedelta(seconds=60)
    with app.app_context():  # not due yet: nothing is tried
        assert mail.send_due(now=start + dt.timedelta(seconds=30)) == {"sent": 0, "failed": 0, "retrying": 0}
        second = start + dt.timedelta(seconds=61)
        assert mail.send_due(now=second) == {"sent": 0, "failed": 0, "retrying": 1}
    (row,) = rows(app)
    assert row.attempts == 2 and row.next_attempt_at == second + dt.timedelta(seconds=120)  # doubled
    with app.app_context():
        assert mail.send_due(now=second + dt.timedelta(seconds=121)) == {"sent": 0, "failed": 1, "retrying": 0}
    (row,) = rows(app)
    assert row.status == "failed" and row.attempts == 3 and row.sent_at is None


def test_without_smtp_mail_waits_in_the_outbox_for_the_development_page(app: Flask) -> None:
    client = app.test_client()
    client.post("/signup", data=SIGN_UP)
    with app.app_context():
        assert mail.send_due() == {"sent": 0, "failed": 0, "retrying": 0}
    page = client.get("/dev/outbox").data.decode()
    path = LINK.search(page).group(0).removeprefix("http://localhost")
    assert f'<a href="http://localhost{path}"' in page  # a link a person can click
    assert client.get(path).status_code == 200
