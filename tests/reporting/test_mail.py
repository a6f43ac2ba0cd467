"""The outbox sends through a real SMTP server (aiosmtpd on loopback), one claimed mail at a time: a refusal
(5xx) fails the mail at once, a temporary answer (4xx) or a broken connection backs off, a server that stalls
holds up neither the batch nor the mail for ever, and a mail the server took is not sent a second time."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, update

from reporting import mail
from reporting.extensions import db
from reporting.models import OutboxMessage
from tests.faults.smtp import Recorder, free_port, raw_server, smtp_server

from .citizens import LINK, SIGN_UP

@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    with smtp_server() as (recorder, port):
        yield recorder, port


def rows(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def use(app: Flask, port: int, **config: object) -> None:
    app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=port, **config)


def queue(app: Flask, *recipients: str) -> list[int]:
    with app.app_context():
        messages = [mail.enqueue(r, f"Hello {n}", "Body", category="login") for n, r in enumerate(recipients)]
        db.session.commit()
        return [m.id for m in messages]


def send(app: Flask, at: dt.datetime | None = None, **kwargs: object) -> dict[str, int]:
    with app.app_context():
        return mail.send_due(now=at, **kwargs)  # type: ignore[arg-type]


def later(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def near(value: dt.datetime, expected: dt.datetime, within: float = 2.0) -> bool:
    return abs((value - expected).total_seconds()) <= within


def test_sign_up_mail_is_delivered_over_smtp(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    client = app.test_client()
    assert client.post("/signup?lang=da", data=SIGN_UP).status_code == 302
    assert inbox.messages == []  # written to the outbox in the sign-up transaction, not sent by the request
    assert send(app) == {"sent": 1, "failed": 0, "retrying": 0}
    (sender, recipients, message), = inbox.messages
    assert recipients == ["ida@example.dk"] and sender == "noreply@covidmeter.local"
    assert message["To"] == "ida@example.dk"
    assert message["Subject"] == "Bekræft din e-mailadresse til COVIDmeter"  # encoded on the wire, decoded here
    body = message.get_content()
    link = LINK.search(body).group(0)
    assert link.startswith("http://localhost/signup/confirm/")
    (row,) = rows(app)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None and row.last_error is None
    with app.app_context():  # the Message-ID is the row's own, and tells nothing of how many mails there are
        assert message["Message-ID"] == mail.message_id(row.id, row.created_at, "noreply@covidmeter.local")
    assert re.fullmatch(r"<[0-9a-f]{24}@covidmeter\.local>", message["Message-ID"])
    # The link that arrived by mail works.
    assert client.post(link.removeprefix("http://localhost")).status_code == 302
    assert client.get("/me").status_code == 200
    assert send(app) == {"sent": 0, "failed": 0, "retrying": 0}  # nothing is sent twice
    assert len(inbox.messages) == 1


def test_unreachable_server_backs_off_then_gives_up(app: Flask) -> None:
    use(app, free_port(), COVIDMETER_MAIL_MAX_ATTEMPTS=3)  # nothing listens there: connection refused
    queue(app, "ida@example.dk")
    start = dt.datetime.now(dt.timezone.utc)
    assert send(app, start) == {"sent": 0, "failed": 0, "retrying": 1}
    (row,) = rows(app)
    assert row.status == "pending" and row.attempts == 1 and "Connection refused" in row.last_error
    assert near(row.next_attempt_at, start + dt.timedelta(seconds=60))
    assert send(app, start + dt.timedelta(seconds=30)) == {"sent": 0, "failed": 0, "retrying": 0}  # not due yet
    second = start + dt.timedelta(seconds=61)
    assert send(app, second) == {"sent": 0, "failed": 0, "retrying": 1}
    (row,) = rows(app)
    assert row.attempts == 2 and near(row.next_attempt_at, second + dt.timedelta(seconds=120))  # doubled
    assert send(app, second + dt.timedelta(seconds=121)) == {"sent": 0, "failed": 1, "retrying": 0}
    (row,) = rows(app)
    assert row.status == "failed" and row.attempts == 3 and row.sent_at is None
    assert row.last_error.startswith("gave up after 3 attempts: ")


def test_a_permanent_refusal_fails_the_mail_at_once_and_the_batch_goes_on(
        app: Flask, server: tuple[Recorder, int], caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = server
    use(app, port)
    inbox.rcpt = lambda address: "550 5.1.1 <%s>: Recipient address rejected" % address if "nobody" in address else None
    ids = queue(app, "ida@example.dk", "nobody@example.dk", "ole@example.dk")
    with caplog.at_level(logging.WARNING, logger="reporting.mail"):
        assert send(app) == {"sent": 2, "failed": 1, "retrying": 0}
    assert sorted(r for _, (r,), _ in inbox.messages) == ["ida@example.dk", "ole@example.dk"]
    first, refused, third = rows(app)
    assert first.status == third.status == "sent"
    assert refused.status == "failed" and refused.attempts == 1 and refused.sent_at is None
    assert refused.last_error == "permanent: recipient refused: 550 5.1.1 <[address]>: Recipient address rejected"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "reporting.mail"]
    assert f"mail {ids[1]} (login, Message-ID <" in line and "550 5.1.1" in line and "@example.dk" not in line
    # Never tried again, however long one waits.
    assert send(app, later(30 * 86400)) == {"sent": 0, "failed": 0, "retrying": 0}
    assert inbox.refused == 1


def test_a_refused_message_fails_and_a_refused_sender_stops_the_batch(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    inbox.data = lambda address: "554 5.6.0 Message content rejected" if address.startswith("spam") else None
    queue(app, "spam@example.dk", "ida@example.dk")
    assert send(app) == {"sent": 1, "failed": 1, "retrying": 0}
    assert rows(app)[0].last_error == "permanent: message refused: 554 5.6.0 Message content rejected"
    # Every mail has the same sender: one refusal of it stops the batch, the rest stays pending and due.
    inbox.sender = lambda address: "553 5.7.1 Sender address rejected: not owned by user"
    queue(app, "a@example.dk", "b@example.dk", "c@example.dk")
    assert send(app) == {"sent": 0, "failed": 1, "retrying": 0}
    statuses = [r.status for r in rows(app)[2:]]
    assert statuses == ["failed", "pending", "pending"]
    assert rows(app)[2].last_error.startswith("permanent: sender refused: 553 5.7.1")
    inbox.sender = lambda address: None
    assert send(app) == {"sent": 2, "failed": 0, "retrying": 0}


def test_a_temporary_refusal_backs_off_and_is_sent_later_with_the_same_message_id(
        app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    inbox.data = lambda address: "451 4.3.0 Try again later"
    queue(app, "ida@example.dk")
    start = dt.datetime.now(dt.timezone.utc)
    assert send(app, start) == {"sent": 0, "failed": 0, "retrying": 1}
    (row,) = rows(app)
    assert row.status == "pending" and row.attempts == 1 and row.last_error == "temporary: message refused: 451 4.3.0 Try again later"
    assert near(row.next_attempt_at, start + dt.timedelta(seconds=60))
    inbox.data = lambda address: None
    assert send(app, start + dt.timedelta(seconds=61)) == {"sent": 1, "failed": 0, "retrying": 0}
    (row,) = rows(app)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None
    assert list(inbox.deliveries.values()) == [1]


def test_a_server_that_never_greets_makes_mail_back_off_without_holding_the_batch(app: Flask) -> None:
    with raw_server(None) as (arrivals, port):
        use(app, port, COVIDMETER_SMTP_TIMEOUT=0.5)
        queue(app, *[f"p{n}@example.dk" for n in range(20)])
        started = time.monotonic()
        assert send(app) == {"sent": 0, "failed": 0, "retrying": 20}
        assert time.monotonic() - started < 5 and len(arrivals) == 1  # one connection, one timeout
    assert {(r.status, r.attempts) for r in rows(app)} == {("pending", 1)}
    assert all("TimeoutError" in r.last_error or "timed out" in r.last_error for r in rows(app))


def test_a_server_that_stalls_mid_conversation_costs_two_mails_a_backoff_not_the_batch(
        app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port, COVIDMETER_SMTP_TIMEOUT=0.5)
    inbox.stall_mail = 30  # greets, then never answers MAIL FROM in time
    queue(app, *[f"p{n}@example.dk" for n in range(10)])
    started = time.monotonic()
    assert send(app) == {"sent": 0, "failed": 0, "retrying": 2}
    assert time.monotonic() - started < 5
    assert [r.attempts for r in rows(app)] == [1, 1] + [0] * 8  # the rest untouched, still due
    assert all(r.status == "pending" for r in rows(app))
    inbox.stall_mail = 0
    assert send(app, later(61)) == {"sent": 10, "failed": 0, "retrying": 0}
    assert sorted(inbox.deliveries.values()) == [1] * 10


def test_a_slow_answer_to_the_message_is_waited_for_and_the_mail_sent_once(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port, COVIDMETER_SMTP_TIMEOUT=0.5)
    inbox.stall_data = 1.2  # longer than the timeout, shorter than the wait for the final answer (2.5 s)
    queue(app, "ida@example.dk")
    assert send(app) == {"sent": 1, "failed": 0, "retrying": 0}
    inbox.stall_data = 0
    assert send(app, later(3600)) == {"sent": 0, "failed": 0, "retrying": 0}
    assert list(inbox.deliveries.values()) == [1]


def test_no_answer_after_the_message_is_an_unknown_outcome_never_sent_again_unless_requeued(
        app: Flask, server: tuple[Recorder, int], caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = server
    use(app, port, COVIDMETER_SMTP_TIMEOUT=0.3)
    inbox.stall_data = 3  # the server has the message, and answers after the client has stopped waiting (1.5 s)
    (outbox_id,) = queue(app, "ida@example.dk")
    with caplog.at_level(logging.WARNING, logger="reporting.mail"):
        counts = send(app)
    assert counts["failed"] == 1
    row = rows(app)[0]
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error.startswith("outcome unknown: no answer after the message was sent")
    assert any(f"mail {outbox_id} " in r.getMessage() and "outcome unknown" in r.getMessage() for r in caplog.records)
    inbox.stall_data = 0
    (other,) = queue(app, "ole@example.dk")
    assert send(app, later(7 * 86400)) == {"sent": 1, "failed": 0, "retrying": 0}
    assert rows(app)[0].status == "failed" and rows(app)[1].status == "sent"
    first = rows(app)[0]
    with app.app_context():
        mid = mail.message_id(first.id, first.created_at, "noreply@covidmeter.local")
    assert inbox.deliveries[mid] == 1  # the server had it: not sent twice
    # An operator who finds in the relay's log that it never arrived puts it back.
    with app.app_context():
        assert mail.requeue([outbox_id, other]) == 1  # only failed mail is requeued
    assert send(app) == {"sent": 1, "failed": 0, "retrying": 0}
    assert inbox.deliveries[mid] == 2


def test_a_mail_its_sender_died_on_too_often_is_given_up(app: Flask, server: tuple[Recorder, int]) -> None:
    _, port = server
    use(app, port, COVIDMETER_MAIL_MAX_ATTEMPTS=3)
    queue(app, "ida@example.dk")
    with app.app_context():  # claimed three times, each time its sender was killed before an outcome
        db.session.execute(update(OutboxMessage).values(attempts=3))
        db.session.commit()
    assert send(app) == {"sent": 0, "failed": 1, "retrying": 0}
    assert rows(app)[0].last_error == "gave up: claimed 3 times without an outcome (the sender stopped or crashed on it)"


def test_two_senders_at_once_never_take_the_same_mail(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    inbox.delay = 0.005
    queue(app, *[f"p{n}@example.dk" for n in range(120)])
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            results.append(send(app, limit=1000))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(r["sent"] for r in results) == 120
    assert all(r["sent"] > 0 for r in results)  # they did run side by side
    assert len(inbox.deliveries) == 120 and set(inbox.deliveries.values()) == {1}
    assert {(r.status, r.attempts) for r in rows(app)} == {("sent", 1)}


def test_operators_see_the_outbox_and_its_recent_failures(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    inbox.rcpt = lambda address: "550 5.1.1 <%s>: no such user" % address if "nobody" in address else None
    queue(app, "ida@example.dk", "nobody@example.dk")
    send(app)
    use(app, free_port())
    queue(app, "ole@example.dk")
    send(app)
    with app.app_context():
        state = mail.outbox_state()
        lines = mail.outbox_report(state)
    assert (state.pending, state.due, state.retrying, state.sent, state.failed, state.failed_recently) == (1, 0, 1, 1, 1, 1)
    (failure,) = state.recent_failures
    assert failure.id == rows(app)[1].id and failure.last_error.startswith("permanent: recipient refused: 550")
    assert lines[0] == "mail outbox: 1 pending, 1 failed (1 in the last 24 h), 1 sent; 0 due now, 1 retrying with backoff"
    assert lines[1].endswith(f"mail {failure.id} (login) after 1 attempt(s): permanent: recipient refused: "
                             "550 5.1.1 <[address]>: no such user")
    assert "@" not in "\n".join(lines)
    with app.app_context():  # a day later the failure is no longer recent; a due mail shows how long it waits
        state = mail.outbox_state(now=later(2 * 86400))
    assert (state.due, state.failed, state.failed_recently, state.recent_failures) == (1, 1, 0, ())
    assert state.oldest_due_at is not None and state.oldest_due_at < later(120)


def test_without_smtp_mail_waits_in_the_outbox_for_the_development_page(app: Flask) -> None:
    client = app.test_client()
    client.post("/signup", data=SIGN_UP)
    assert send(app) == {"sent": 0, "failed": 0, "retrying": 0}
    page = client.get("/dev/outbox").data.decode()
    path = LINK.search(page).group(0).removeprefix("http://localhost")
    assert f'<a href="http://localhost{path}"' in page  # a link a person can click
    assert "pending" in page
    assert client.get(path).status_code == 200


def test_the_development_page_shows_why_a_mail_failed(app: Flask, server: tuple[Recorder, int]) -> None:
    inbox, port = server
    use(app, port)
    inbox.rcpt = lambda address: "550 5.1.1 no such user"
    queue(app, "nobody@example.dk")
    send(app)
    page = app.test_client().get("/dev/outbox").data.decode()
    assert "failed" in page and "permanent: recipient refused: 550 5.1.1 no such user" in page
