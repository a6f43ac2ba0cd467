"""Migration 0010_ids on a database with data (issue 11, item 4): every row survives the table rebuilds
(foreign keys are off while SQLite rebuilds, so no cascade fires), citizens' events leave the append-only log
for ``citizen_events`` (those of people already gone are dropped), mail is tied to its account, every account
gets its own unsubscribe key, ids are never reused afterwards, and the downgrade goes back. Runs on a database
of its own: a SQLite file, or on PostgreSQL a database created next to the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from reporting.db import make_engine
from reporting.migrate import downgrade, upgrade

NOW = "2026-11-30 10:00:00"


@pytest.fixture
def scratch_url(database_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'm0010.sqlite'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_m0010"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fill(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        for id_, email in ((1, "a@example.dk"), (2, "b@example.dk")):
            c.execute(text("INSERT INTO accounts (email, language, status, created_at, reminder_weekday) "
                           "VALUES (:email, 'da', 'active', :now, 0)"), {"email": email, "now": NOW})
            assert c.scalar(text("SELECT id FROM accounts WHERE email = :e"), {"e": email}) == id_
            c.execute(text("INSERT INTO consents (account_id, version, given_at) VALUES (:id, '2026-1', :now)"),
                      {"id": id_, "now": NOW})
        c.execute(text("INSERT INTO profiles (id, account_id, relation, birth_year, sex, municipality_code, "
                       "intake_version, intake_answers, created_at, updated_at) VALUES "
                       "('p1', 1, 'self', 1980, 'female', 751, 'intake-2', '{}', :now, :now)"), {"now": NOW})
        c.execute(text("INSERT INTO login_tokens (token_hash, account_id, purpose, created_at, expires_at) "
                       "VALUES ('h1', 1, 'login', :now, :now)"), {"now": NOW})
        for recipient in ("a@example.dk", "c@example.dk"):
            c.execute(text("INSERT INTO outbox_messages (recipient, subject, body_text, headers, category, "
                           "created_at, status, attempts, next_attempt_at) VALUES "
                           "(:r, 's', 'b', '{}', 'login', :now, 'sent', 1, :now)"), {"r": recipient, "now": NOW})
        c.execute(text("INSERT INTO staff_users (email, password_hash, role, failed_attempts, created_at) "
                       "VALUES ('staff@example.org', 'x', 'authority', 0, :now)"), {"now": NOW})
        c.execute(text("INSERT INTO api_tokens (name, prefix, token_hash, scopes, created_at, staff_user_id) "
                       "VALUES ('feed', 'cmt_x', 't1', 'export:read', :now, 1)"), {"now": NOW})
        for kind, action, target, addr in (("citizen", "profile.added", "account:1", "10.0.0.1"),
                                           ("weekly_link", "report.nobody_ill", "account:2", None),
                                           ("citizen", "account.login", "account:99", "10.0.0.9"),
                                           ("anonymous", "account.login_requested", "account:1", "10.0.0.1"),
                                           ("staff", "staff.login", "staff:1", "10.0.0.5")):
            c.execute(text("INSERT INTO audit_log (occurred_at, actor_kind, actor_id, action, target, detail, "
                           "remote_addr) VALUES (:now, :kind, NULL, :action, :target, '{\"relation\": \"child\"}', "
                           ":addr)"), {"now": NOW, "kind": kind, "action": action, "target": target, "addr": addr})
    engine.dispose()


def test_the_migration_keeps_every_row_and_moves_citizen_events(scratch_url: str) -> None:
    upgrade(scratch_url, "0009")
    _fill(scratch_url)
    upgrade(scratch_url, "0010_ids")
    engine = make_engine(scratch_url)
    with engine.connect() as c:
        count = lambda table: c.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: E731
        assert (count("accounts"), count("consents"), count("profiles"), count("login_tokens")) == (2, 2, 1, 1)
        keys = c.scalars(text("SELECT unsubscribe_key FROM accounts")).all()
        assert len(set(keys)) == 2 and all(len(k) == 32 for k in keys)
        assert dict(c.execute(text("SELECT recipient, account_id FROM outbox_messages")).all()) == {
            "a@example.dk": 1, "c@example.dk": None}
        moved = c.execute(text("SELECT account_id, actor_kind, action, remote_addr FROM citizen_events "
                               "ORDER BY id")).all()
        assert [tuple(r) for r in moved] == [(1, "citizen", "profile.added", "10.0.0.1"),
                                             (2, "weekly_link", "report.nobody_ill", None),
                                             (1, "anonymous", "account.login_requested", "10.0.0.1")]
        assert c.execute(text("SELECT action, target FROM audit_log")).all() == [("staff.login", "staff:1")]
        assert c.scalar(text("SELECT staff_user_id FROM api_tokens WHERE name = 'feed'")) == 1
        if engine.dialect.name == "sqlite":
            assert c.scalar(text("PRAGMA foreign_keys")) == 1
            assert c.execute(text("PRAGMA foreign_key_check")).all() == []
            for table in ("accounts", "login_tokens", "outbox_messages", "staff_users", "api_tokens", "citizen_events"):
                sql = c.scalar(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table})
                assert "AUTOINCREMENT" in sql, table
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET action = 'x'"):
        with engine.connect() as c, pytest.raises(Exception, match="append-only"):
            c.execute(text(statement))
    with engine.begin() as c:  # a second owner may use a token name (the downgrade renames it)
        c.execute(text("INSERT INTO staff_users (email, password_hash, role, failed_attempts, created_at) "
                       "VALUES ('staff2@example.org', 'x', 'authority', 0, :now)"), {"now": NOW})
        c.execute(text("INSERT INTO api_tokens (name, prefix, token_hash, scopes, created_at, staff_user_id) "
                       "SELECT 'feed', 'cmt_y', 't2', 'export:read', :now, id FROM staff_users "
                       "WHERE email = 'staff2@example.org'"), {"now": NOW})
    with engine.begin() as c:  # the newest account goes; the next one does not get its id
        c.execute(text("DELETE FROM accounts WHERE id = 2"))
        c.execute(text("INSERT INTO accounts (email, language, status, created_at, reminder_weekday, "
                       "unsubscribe_key) VALUES ('d@example.dk', 'da', 'active', :now, 0, :key)"),
                  {"now": NOW, "key": "f" * 32})
        assert c.scalar(text("SELECT id FROM accounts WHERE email = 'd@example.dk'")) > 2
        assert c.scalar(text("SELECT count(*) FROM citizen_events WHERE account_id = 2")) == 0  # cascaded
    engine.dispose()
    downgrade(scratch_url, "0009")
    engine = make_engine(scratch_url)
    with engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM profiles")) == 1
        assert c.scalar(text("SELECT count(*) FROM consents")) == 1  # account 2's went with it, before
        assert sorted(c.scalars(text("SELECT name FROM api_tokens"))) == ["feed", "feed-2"]
    engine.dispose()
    upgrade(scratch_url)
