"""Administration: staff users, their sessions (revocation), API tokens by role, the audit log viewer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from reporting.extensions import db
from reporting.models import ApiToken, AuditEvent, StaffUser
from tests.reporting.staff import bearer, sign_in, sign_in_fully, totp_code

Client = Callable[..., FlaskClient]


def _user(app: Flask, email: str) -> StaffUser:
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(user)
        return user


def test_staff_home_shows_the_links_of_the_role(staff_client: Client) -> None:
    epi = staff_client("epidemiologist").get("/staff/").get_data(as_text=True)
    assert 'href="/dashboard/"' in epi and "/staff/tokens/" not in epi and "/admin/" not in epi
    authority = staff_client("authority").get("/staff/").get_data(as_text=True)
    assert "/staff/tokens/" in authority and "/admin/" not in authority
    admin = staff_client("admin").get("/staff/").get_data(as_text=True)
    assert "/staff/tokens/" in admin and 'href="/admin/staff"' in admin and 'href="/admin/audit"' in admin


def test_admin_creates_a_staff_user_who_then_signs_in(app: Flask, staff_client: Client) -> None:
    admin = staff_client("admin")
    created = admin.post("/admin/staff", data={"email": "New.Epi@example.org", "role": "epidemiologist"})
    assert created.status_code == 200
    page = created.get_data(as_text=True)
    password = page.split('id="created-password">')[1].split("<")[0]
    assert len(password) >= 12
    newcomer = app.test_client()
    assert sign_in(newcomer, "new.epi@example.org", password).headers["Location"].startswith("/staff/totp/setup")
    duplicate = admin.post("/admin/staff", data={"email": "new.epi@example.org", "role": "admin"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)
    assert admin.post("/admin/staff", data={"email": "x@example.org", "role": "citizen"}).status_code == 422
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.create")
                                   .order_by(AuditEvent.id.desc())).first()
    assert event.actor_kind == "staff" and event.detail["role"] == "epidemiologist"


def test_admin_lists_and_revokes_sessions(app: Flask, staff_client: Client) -> None:
    admin = staff_client("admin")
    laptop = staff_client("epidemiologist", "ana@example.org")
    assert laptop.get("/dashboard/").status_code == 200
    user = _user(app, "ana@example.org")
    listing = admin.get("/admin/staff").get_data(as_text=True)
    assert "ana@example.org" in listing
    detail = admin.get(f"/admin/staff/{user.id}").get_data(as_text=True)
    assert "End session" in detail and "127.0.0.1" in detail
    session_id = detail.split('name="session_id" value="')[1].split('"')[0]
    revoked = admin.post(f"/admin/staff/{user.id}/sessions/revoke", data={"session_id": session_id})
    assert revoked.status_code == 302
    assert laptop.get("/dashboard/").status_code == 302  # signed out by the admin
    assert laptop.post("/dashboard/_dash-update-component", json={}).status_code == 401
    assert "No active sessions." in admin.get(f"/admin/staff/{user.id}").get_data(as_text=True)
    with app.app_context():
        # The audit log is append-only and outlives each test: take the newest event of this kind.
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.sessions.revoke")
                                   .order_by(AuditEvent.id.desc())).first()
    assert event.target == f"staff:{user.id}" and event.detail["sessions"] == 1


def test_disable_ends_sessions_and_blocks_sign_in(app: Flask, staff_client: Client) -> None:
    admin = staff_client("admin", "boss@example.org")
    other = staff_client("authority", "auth@example.org")
    user = _user(app, "auth@example.org")
    assert admin.post(f"/admin/staff/{user.id}/disable").status_code == 302
    assert other.get("/staff/").status_code == 302
    assert sign_in(app.test_client(), "auth@example.org").status_code == 401
    me = _user(app, "boss@example.org")
    admin.post(f"/admin/staff/{me.id}/disable")
    assert _user(app, "boss@example.org").disabled_at is None  # an admin cannot lock themselves out
    assert admin.post(f"/admin/staff/{user.id}/enable").status_code == 302
    with app.app_context():  # the code used a moment ago cannot be used again: take the next time-step's
        code = totp_code("auth@example.org", steps_ahead=1)
    assert sign_in_fully(app.test_client(), "auth@example.org", code=code).status_code == 302


def test_reset_totp_makes_the_next_sign_in_set_it_up(app: Flask, staff_client: Client) -> None:
    admin = staff_client("admin")
    staff_client("epidemiologist", "lost.phone@example.org")
    user = _user(app, "lost.phone@example.org")
    assert admin.post(f"/admin/staff/{user.id}/reset-totp").status_code == 302
    assert _user(app, "lost.phone@example.org").totp_secret is None
    assert sign_in(app.test_client(), "lost.phone@example.org").headers["Location"].startswith("/staff/totp/setup")


def test_authority_manages_own_tokens_only(app: Flask, staff_client: Client, published: None) -> None:
    first = staff_client("authority", "a1@example.org")
    second = staff_client("authority", "a2@example.org")
    created = first.post("/staff/tokens/", data={"name": "region-h-import", "days": "90",
                                                 "scope-export:read": "1"})
    assert created.status_code == 200
    secret = created.get_data(as_text=True).split('id="issued-secret">')[1].split("<")[0]
    assert secret.startswith("cmt_")
    assert app.test_client().get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 200
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "region-h-import"))
        assert token.staff_user_id == _user(app, "a1@example.org").id and token.scopes == "export:read"
        token_id = token.id
    assert "region-h-import" not in second.get("/staff/tokens/").get_data(as_text=True)
    assert second.post(f"/staff/tokens/{token_id}/revoke").status_code == 404
    assert app.test_client().get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 200
    assert first.post("/staff/tokens/", data={"name": "bad", "days": "9999",
                                              "scope-export:read": "1"}).status_code == 422
    assert first.post("/staff/tokens/", data={"name": "noscope", "days": "30"}).status_code == 422
    admin = staff_client("admin")
    assert "region-h-import" in admin.get("/staff/tokens/").get_data(as_text=True)
    assert admin.post(f"/staff/tokens/{token_id}/revoke").status_code == 302
    assert app.test_client().get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 401


def test_audit_log_viewer_reads_and_filters(app: Flask, staff_client: Client, api_token: Callable[..., str],
                                            published: None) -> None:
    secret = api_token()
    app.test_client().get("/api/v1/incidence.json?geo_type=nation", headers=bearer(secret))
    admin = staff_client("admin")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "staff.login" in page and "export" in page and "token:" in page
    only_exports = admin.get("/admin/audit?action=export&actor_kind=token").get_data(as_text=True)
    assert "&#34;geo_type&#34;: &#34;nation&#34;" in only_exports or '"geo_type": "nation"' in only_exports
    assert "staff.login<" not in only_exports
    assert admin.get("/admin/audit?before=notanumber&action=%00").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.read")).first() is not None


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'edited'", "DELETE FROM audit_log"])
def test_nobody_can_edit_the_audit_log(app: Flask, staff_client: Client, statement: str) -> None:
    staff_client("admin")  # a login event exists
    with app.app_context():
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as connection:
                connection.execute(text(statement))
    for method in ("put", "patch", "delete"):
        assert getattr(staff_client("admin", f"{method}@example.org"), method)("/admin/audit").status_code == 405
