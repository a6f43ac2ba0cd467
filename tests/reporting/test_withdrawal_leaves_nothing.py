"""A withdrawal leaves nothing behind (issue 11, item 4).

A person signs up through the pages, changes e-mail address (and starts a second change that is never
confirmed), adds a relative, reports a week on the web and through the weekly mail's link, uses the one-click
unsubscribe link, signs in to the citizen API and exports their data, and withdraws. Then every table and
every column of the database (reflected, on whichever engine the suite runs) is read: the only row the flow
may leave is the withdrawal record, and no value anywhere holds the addresses, the pseudonyms, a secret of
any link, session or token seen on the way (or its SHA-256, as stored), the answers, or a reference to the
account's id. Then the next sign-up gets a new id, sees nothing of the first person, and the first person's
links, unsubscribe link included, do nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text

from reporting.extensions import db
from reporting.models import Account, Profile, Withdrawal
from reporting.reminders import send_due_reminders
from reporting.reports import service as reports

from .citizens import SIGN_UP, outbox, submission_id_of

LINK = re.compile(r"http://localhost(/(?:signup/confirm|login/link|me/email/confirm|week|unsubscribe)/[^\s>]+)")


def _links(app: Flask, recipient: str) -> list[str]:
    return [m.group(1) for message in outbox(app) if message.recipient == recipient
            for m in LINK.finditer(message.body_text + " " + json.dumps(message.headers))]


def _secret_of(path: str) -> str:
    return path.split("/")[2] if path.startswith("/week/") else path.rsplit("/", 1)[1]


def _snapshot(app: Flask) -> dict[str, set[str]]:
    """Every row of every table, as text (JSON for structured values), by table."""
    with app.app_context():
        engine = db.engine
        names = [n for n in inspect(engine).get_table_names() if not n.startswith("sqlite_")]
        rows: dict[str, set[str]] = {}
        with engine.connect() as connection:
            for name in names:
                columns = [c["name"] for c in inspect(engine).get_columns(name)]
                quoted = ", ".join(f'"{c}"' for c in columns)
                rows[name] = {json.dumps({c: _plain(v) for c, v in zip(columns, row)}, sort_keys=True,
                                         ensure_ascii=False, default=str)
                              for row in connection.execute(text(f'SELECT {quoted} FROM "{name}"'))}
        return rows


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)  # SQLite keeps JSON as text: compare it as PostgreSQL's JSONB reads
        except ValueError:
            return value
    return value


def _cookie_session_id(app: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)["sid"]


def test_a_withdrawal_leaves_only_the_withdrawal_record(app: Flask, client: FlaskClient) -> None:
    tag = secrets.token_hex(4)
    old_email, new_email, pending_email = f"old-{tag}@example.dk", f"new-{tag}@example.dk", f"pending-{tag}@example.dk"
    relative_name = f"Zorbulax {tag}"
    secrets_seen: list[str] = []
    before = _snapshot(app)

    # Sign up and confirm through the pages.
    assert client.post("/signup?lang=en", data={**SIGN_UP, "email": old_email}).status_code == 302
    (confirm,) = _links(app, old_email)
    secrets_seen.append(_secret_of(confirm))
    assert client.post(confirm).status_code == 302
    secrets_seen.append(_cookie_session_id(app, client))
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == old_email))
        account_id, own_profile = account.id, account.profiles[0].id
        account.reminder_weekday = 0  # due for this week's reminder whatever today is
        db.session.commit()

    # Change the address (confirmed from the new one), and start a second change that is never confirmed.
    assert client.post("/me/settings/email", data={"email": new_email}).status_code == 302
    (change,) = [p for p in _links(app, new_email) if p.startswith("/me/email/confirm/")]
    secrets_seen.append(_secret_of(change))
    assert client.post(change).status_code == 302
    assert client.post("/me/settings/email", data={"email": pending_email}).status_code == 302
    secrets_seen.append(_secret_of([p for p in _links(app, pending_email) if "/email/confirm/" in p][0]))

    # A relative, and a report for the account holder through the pages.
    relative = {"relation": "child", "display_name": relative_name, "birth_year": "2016", "sex": "female",
                "municipality": "751", "household_size": "3"}
    assert client.post("/me/profiles/new", data=relative).status_code == 302
    with app.app_context():
        child = db.session.scalar(select(Profile.id).where(Profile.account_id == account_id,
                                                           Profile.relation == "child"))
    html = client.get(f"/report/{own_profile}").data.decode()
    with app.app_context():
        today = reports.local_today().isoformat()
    answers = {"submission_id": submission_id_of(html), "symptoms": ["cough", "loss_of_smell"],
               "persistent_cough": "yes", "same_illness": "no", "symptom_start": today, "still_ill": "yes",
               "sudden_onset": "yes", "care": ["gp"], "tested": "pcr", "test_result": "positive",
               "flu_tested": "no", "days_off": "3"}
    assert client.post(f"/report/{own_profile}", data=answers).status_code == 302

    # The weekly mail: report for the relative through its link; its one-click unsubscribe link.
    with app.app_context():
        assert send_due_reminders(reports.local_today()) == 1
    weekly = [p for p in _links(app, new_email) if p.startswith("/week/")]
    week_secret = _secret_of(weekly[0])
    secrets_seen.append(week_secret)
    form = client.get(f"/week/{week_secret}/report/{child}").data.decode()
    assert client.post(f"/week/{week_secret}/report/{child}", data={
        "submission_id": submission_id_of(form), "symptoms": ["none"]}).status_code == 200
    unsubscribe = [p for p in _links(app, new_email) if p.startswith("/unsubscribe/")][0]
    unsubscribe_token = unsubscribe.rsplit("/", 1)[1]
    secrets_seen.append(unsubscribe_token)
    from itsdangerous import URLSafeSerializer

    unsubscribe_key = URLSafeSerializer(app.config["SECRET_KEY"], salt="covidmeter.unsubscribe.key").loads(
        unsubscribe_token)["u"]
    secrets_seen.append(unsubscribe_key)
    assert app.test_client().post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    # Log in again by a mailed link, and sign in to the citizen API (bearer session), export there and here.
    assert client.post("/login", data={"email": new_email}).status_code == 302
    login = [p for p in _links(app, new_email) if p.startswith("/login/link/")][-1]
    secrets_seen.append(_secret_of(login))
    assert client.post(login).status_code == 302
    secrets_seen.append(_cookie_session_id(app, client))
    api = app.test_client()
    assert api.post("/api/v1/me/login", json={"email": new_email}).status_code == 202
    api_link = [p for p in _links(app, new_email) if p.startswith("/login/link/")][-1]
    secrets_seen.append(_secret_of(api_link))
    issued = api.post("/api/v1/me/session", json={"token": _secret_of(api_link)})
    assert issued.status_code == 201
    bearer = issued.get_json()["access_token"]
    secrets_seen.append(bearer)
    exported = api.get("/api/v1/me/export", headers={"Authorization": f"Bearer {bearer}"}).get_json()
    assert {p["id"] for p in exported["profiles"]} == {own_profile, child}
    assert {"account.sign_up", "profile.added", "account.email_changed"} <= {e["action"] for e in exported["events"]}
    assert client.get("/me/export.json").status_code == 200
    assert all(s for s in secrets_seen) and len(set(secrets_seen)) == len(secrets_seen)

    # Withdraw through the pages.
    assert client.post("/me/withdraw").status_code == 302
    after = _snapshot(app)

    # What the flow left: the withdrawal record, nothing else (the append-only audit log gained nothing).
    added = {table: rows - before.get(table, set()) for table, rows in after.items()}
    added = {table: rows for table, rows in added.items() if rows}
    assert set(added) == {"withdrawals"}, {t: sorted(r)[:3] for t, r in added.items()}
    (record,) = [json.loads(r) for r in added["withdrawals"]]
    assert set(record) == {"id", "withdrawn_at", "consent_version", "channel", "profiles_deleted",
                           "reports_deleted"}
    assert (record["channel"], record["profiles_deleted"], record["reports_deleted"]) == ("web", 2, 2)

    # And no value anywhere holds anything of the person (the audit log's older rows included).
    needles = {old_email, new_email, pending_email, own_profile, child, relative_name, f"account:{account_id}",
               *secrets_seen, *(hashlib.sha256(s.encode()).hexdigest() for s in secrets_seen)}
    for table, rows in after.items():
        for row in rows:
            found = [n for n in needles if n in row]
            assert not found, (table, found, row[:300])
    inspector_fks = _account_foreign_keys(app)
    with app.app_context(), db.engine.connect() as connection:
        for table, column in inspector_fks:
            assert connection.scalar(text(f'SELECT count(*) FROM "{table}" WHERE "{column}" = :id'),
                                     {"id": account_id}) == 0, (table, column)

    # The next person to sign up gets a new id and sees nothing of the first; the old links do nothing.
    newcomer = app.test_client()
    assert newcomer.post("/signup?lang=en", data={**SIGN_UP, "email": f"next-{tag}@example.dk"}).status_code == 302
    (link,) = _links(app, f"next-{tag}@example.dk")
    assert newcomer.post(link).status_code == 302
    with app.app_context():
        newcomer_account = db.session.scalar(select(Account).where(Account.email == f"next-{tag}@example.dk"))
        assert newcomer_account.id > account_id
    document = newcomer.get("/me/export.json").get_json()
    assert {e["action"] for e in document["events"]} == {"account.sign_up", "account.login"}
    assert old_email not in json.dumps(document) and relative_name not in json.dumps(document)
    assert app.test_client().get(unsubscribe).status_code == 404
    assert app.test_client().post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    with app.app_context():
        assert db.session.get(Account, newcomer_account.id).unsubscribed_at is None
    for path in (confirm, login, change, f"/week/{week_secret}"):
        assert app.test_client().post(path).status_code in (404, 405, 410), path
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(Withdrawal.channel)) == "web"


def _account_foreign_keys(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        inspector = inspect(db.engine)
        return [(table, fk["constrained_columns"][0]) for table in inspector.get_table_names()
                for fk in inspector.get_foreign_keys(table) if fk["referred_table"] == "accounts"]


def test_ids_are_never_given_again(app: Flask) -> None:
    """The newest account, staff user, token, session and mail deleted: the next row gets a new id (SQLite
    AUTOINCREMENT; PostgreSQL's sequences)."""
    from reporting.models import ApiToken, LoginToken, OutboxMessage, StaffUser, UserSession, utcnow

    def newest_then_next(make: Any, model: type) -> tuple[int, int]:
        with app.app_context():
            row = make()
            db.session.add(row)
            db.session.commit()
            first = row.id
            db.session.delete(row)
            db.session.commit()
            again = make()
            db.session.add(again)
            db.session.commit()
            return first, again.id

    expires = utcnow() + dt.timedelta(hours=1)
    cases = {
        Account: lambda: Account(email=f"{secrets.token_hex(4)}@example.dk"),
        StaffUser: lambda: StaffUser(email=f"{secrets.token_hex(4)}@example.org", password_hash="x", role="admin"),
        ApiToken: lambda: ApiToken(name=secrets.token_hex(4), prefix="cmt_x", token_hash=secrets.token_hex(32)),
        LoginToken: lambda: LoginToken(token_hash=secrets.token_hex(32), purpose="login", expires_at=expires),
        OutboxMessage: lambda: OutboxMessage(recipient="a@example.dk", subject="s", body_text="b", category="x"),
    }
    for model, make in cases.items():
        first, second = newest_then_next(make, model)
        assert second > first, model.__name__
    with app.app_context():
        staff = StaffUser(email=f"{secrets.token_hex(4)}@example.org", password_hash="x", role="admin")
        db.session.add(staff)
        db.session.commit()
        staff_id = staff.id
    first, second = newest_then_next(lambda: UserSession(session_hash=secrets.token_hex(32), staff_user_id=staff_id,
                                                         expires_at=expires), UserSession)
    assert second > first


def test_an_old_unsubscribe_link_that_names_an_id_does_nothing(app: Flask, client: FlaskClient) -> None:
    from itsdangerous import URLSafeSerializer

    from .citizens import make_profile

    account_id, _ = make_profile(app, "still-here@example.dk")
    old_style = URLSafeSerializer(app.config["SECRET_KEY"], salt="covidmeter.unsubscribe").dumps({"a": account_id})
    assert client.get(f"/unsubscribe/{old_style}").status_code == 404
    assert client.post(f"/unsubscribe/{old_style}").status_code == 404
    forged = URLSafeSerializer("another key", salt="covidmeter.unsubscribe.key").dumps({"u": "0" * 32})
    assert client.get(f"/unsubscribe/{forged}").status_code == 404
    with app.app_context():
        assert db.session.get(Account, account_id).unsubscribed_at is None


def test_the_audit_log_refuses_a_citizens_event(app: Flask) -> None:
    import pytest

    from reporting import audit

    with app.app_context():
        with pytest.raises(audit.CitizenEventInAuditLog):
            audit.record("account.login", target="account:1")
        db.session.rollback()
