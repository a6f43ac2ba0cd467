"""The mail sender is killed (SIGKILL) in the middle of a batch, and SMTP servers refuse: a crash re-sends at
most the one mail in flight, and mail that could not be handed over waits, backs off and is delivered once.

The SMTP server is a real aiosmtpd server in this process that counts deliveries per Message-ID (which the
outbox derives from the row, the same on every attempt) and is slow (20 ms a mail, after it has taken the
mail and before it answers), so that the kill lands while a mail the server already has is in flight. The
sender is a real subprocess running ``send_due``, on whichever database the suite runs on."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from reporting import mail
from reporting.extensions import db
from reporting.models import OutboxMessage, utcnow

from .smtp import free_port, raw_server, smtp_server

ROOT = Path(__file__).resolve().parents[2]
MAILS = 300
KILL_AFTER = 60

# The sender: the application as the scheduler builds it, sending every due mail in one run.
CHILD = """
import json, os
from wsgi import create_app
from reporting import mail
app = create_app(json.loads(os.environ["MAILER_CONFIG"]))
with app.app_context():
    print(json.dumps(mail.send_due(limit=10_000)), flush=True)
"""


def queue(app: Flask, count: int) -> None:
    with app.app_context():
        for n in range(count):
            mail.enqueue(f"person{n}@example.dk", f"Mail {n}", f"Body of mail {n}", category="weekly")
        db.session.commit()


def message_ids(app: Flask) -> dict[str, int]:
    """Message-ID -> outbox id of every row."""
    with app.app_context():
        sender = app.config["COVIDMETER_MAIL_FROM"]
        return {mail.message_id(row.id, row.created_at, sender): row.id
                for row in db.session.execute(select(OutboxMessage.id, OutboxMessage.created_at))}


def statuses(app: Flask) -> dict[str, int]:
    with app.app_context():
        return dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def sent_ids(app: Flask) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "sent")))


def test_a_sender_killed_mid_batch_resends_at_most_the_mail_in_flight(app: Flask, config: dict[str, object]) -> None:
    with smtp_server() as (inbox, port):
        inbox.delay = 0.02
        app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=port)
        queue(app, MAILS)
        ids = message_ids(app)
        child_config = {**config, "COVIDMETER_SMTP_HOST": "127.0.0.1", "COVIDMETER_SMTP_PORT": port}
        child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "MAILER_CONFIG": json.dumps(child_config)})
        try:
            deadline = time.monotonic() + 60
            while inbox.delivered < KILL_AFTER and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            assert child.poll() is None, f"the sender ended before it was killed: {child.communicate()}"
            assert inbox.delivered >= KILL_AFTER, "the sender did not get going within 60 s"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.communicate()
        assert child.returncode == -signal.SIGKILL
        time.sleep(0.1)  # the server's answer to the last mail is due now; nobody listens for it

        # What the data say after the crash: every mail the server has is marked sent, but the one in flight.
        delivered = {ids[mid] for mid in inbox.deliveries}
        marked = sent_ids(app)
        assert marked <= delivered and len(delivered - marked) <= 1, (len(delivered), len(marked))
        in_flight = delivered - marked
        assert len(delivered) >= KILL_AFTER

        # The next run sends the rest at once; the mail in flight waits for its lease to end.
        with app.app_context():
            counts = mail.send_due(limit=10_000)
        assert counts == {"sent": MAILS - len(delivered), "failed": 0, "retrying": 0}
        assert statuses(app) == {"sent": MAILS - len(in_flight), **({"pending": 1} if in_flight else {})}
        with app.app_context():
            after_lease = utcnow() + dt.timedelta(seconds=mail.lease_seconds(app.config) + 1)
            assert mail.send_due(limit=10_000, now=after_lease)["sent"] == len(in_flight)

    assert statuses(app) == {"sent": MAILS}
    assert set(inbox.deliveries) == set(ids)  # every mail delivered
    twice = {ids[mid] for mid, n in inbox.deliveries.items() if n > 1}
    assert twice == in_flight and max(inbox.deliveries.values()) <= 2  # at most the one in flight, twice
    with app.app_context():
        assert set(db.session.scalars(select(OutboxMessage.attempts))) <= {1, 2}


@pytest.mark.parametrize("refusal", ["connection refused", "421 at the greeting"])
def test_a_refusing_server_leaves_mail_pending_and_a_working_one_delivers_it_once(app: Flask, refusal: str) -> None:
    queue(app, 50)
    start = utcnow()
    if refusal == "connection refused":
        app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=free_port())
        with app.app_context():
            counts = mail.send_due(now=start)
    else:
        with raw_server(b"421 4.3.2 Service not available, closing transmission channel\r\n") as (arrivals, port):
            app.config.update(COVIDMETER_SMTP_HOST="127.0.0.1", COVIDMETER_SMTP_PORT=port)
            with app.app_context():
                counts = mail.send_due(now=start)
            assert len(arrivals) == 1
    assert counts == {"sent": 0, "failed": 0, "retrying": 50}
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
        assert all(60 <= (r.next_attempt_at - start).total_seconds() < 65 for r in rows)
        assert all(("421" in r.last_error) == (refusal != "connection refused") for r in rows)
        assert mail.outbox_state().retrying == 50
        assert mail.send_due(now=start + dt.timedelta(seconds=30)) == {"sent": 0, "failed": 0, "retrying": 0}

    with smtp_server() as (inbox, port):
        app.config.update(COVIDMETER_SMTP_PORT=port)
        with app.app_context():
            assert mail.send_due(now=start + dt.timedelta(seconds=66)) == {"sent": 50, "failed": 0, "retrying": 0}
            assert mail.send_due(now=start + dt.timedelta(days=1)) == {"sent": 0, "failed": 0, "retrying": 0}
    assert len(inbox.deliveries) == 50 and set(inbox.deliveries.values()) == {1}
    assert statuses(app) == {"sent": 50}
