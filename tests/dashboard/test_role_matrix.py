"""Who may call what: every route of the composed app (parametrised over ``app.url_map``) for anonymous,
citizen, epidemiologist, authority and admin.

The staff side's expectations are written out here (the issue's role table): a new staff route must be
added to ``STAFF_SIDE`` or the test fails. For other routes the expectation is the rule the view declares,
and the test proves the one authorisation layer enforces it. No request may end in a server error.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.authz import rule_for_request
from reporting.extensions import db
from reporting.models import Account, StaffUser, UserSession, utcnow
from reporting.security import hash_secret

PRINCIPALS = ("anonymous", "citizen", "epidemiologist", "authority", "admin")
STAFF = {"epidemiologist", "authority", "admin"}
PUBLIC = set(PRINCIPALS)
TOKEN = "token"  # bearer token only: every session is refused

# The table: epidemiologist: dashboard; authority: dashboard and export tokens; admin: staff,
# tokens, audit log. The export wants a token whoever is signed in; open data and docs are public.
STAFF_SIDE: dict[str, set[str] | str] = {
    "staff.login": PUBLIC, "staff.login_code": PUBLIC, "staff.totp_setup": PUBLIC, "staff.logout": PUBLIC,
    "staff.home": STAFF,
    "tokens.token_list": {"authority", "admin"}, "tokens.token_create": {"authority", "admin"},
    "tokens.token_revoke": {"authority", "admin"},
    "admin.staff_list": {"admin"}, "admin.staff_create": {"admin"}, "admin.staff_detail": {"admin"},
    "admin.sessions_revoke": {"admin"}, "admin.staff_disable": {"admin"}, "admin.staff_enable": {"admin"},
    "admin.staff_reset_totp": {"admin"}, "admin.audit": {"admin"},
    "api.incidence_csv": TOKEN, "api.incidence_json": TOKEN, "api.incidence_jsonl": TOKEN,
    "api.influenzanet_csv": TOKEN,
    "api.open_incidence_csv": PUBLIC, "api.open_incidence_json": PUBLIC, "api.open_incidence_jsonl": PUBLIC,
    "api.openapi_document": PUBLIC, "api.docs": PUBLIC,
}
DASHBOARD_PREFIX = "/dashboard/"


def _routes() -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every rule of the composed app, built without a database."""
    from wsgi import create_app

    app = create_app({"TESTING": True, "COVIDMETER_DATABASE_URL": "sqlite://",
                      "COVIDMETER_SECRET_KEY": "matrix-secret-key-that-is-long-enough-0123"})
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path = re.sub(r"<(?:int:)?[^>]*>", lambda m: "999999" if m.group(0).startswith("<int:") else "x", rule.rule)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        method = "GET" if "GET" in methods else methods[0]
        routes.append((rule.endpoint, method, path))
    return sorted(routes)


ROUTES = _routes()


def _client(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    if who == "anonymous":
        return client
    sid = secrets.token_urlsafe(32)
    with app.app_context():
        if who == "citizen":
            owner = Account(email=f"{secrets.token_hex(4)}@example.org", status="active")
        else:
            owner = StaffUser(email=f"{secrets.token_hex(4)}@example.org", role=who, password_hash="x",
                              totp_secret="A" * 32, totp_confirmed_at=utcnow())
        db.session.add(owner)
        db.session.flush()
        db.session.add(UserSession(session_hash=hash_secret(sid), expires_at=utcnow() + dt.timedelta(hours=1),
                                   **({"account_id": owner.id} if who == "citizen" else {"staff_user_id": owner.id})))
        db.session.commit()
    with client.session_transaction() as cookie_session:
        cookie_session["sid"] = sid
    return client


def _expected(app: Flask, endpoint: str, method: str, path: str) -> set[str] | str:
    if endpoint in STAFF_SIDE:
        return STAFF_SIDE[endpoint]
    if path.startswith(DASHBOARD_PREFIX):
        return STAFF
    assert not endpoint.startswith(("staff.", "admin.", "tokens.", "api.")), \
        f"{endpoint} is a staff-side route: write its roles into STAFF_SIDE"
    with app.test_request_context(path, method=method):
        rule = rule_for_request(app)
    assert rule is not None, f"{endpoint} has no access rule"
    if rule.kind == "public":
        return PUBLIC
    if rule.kind == "citizen":
        return {"citizen"}
    if rule.kind == "staff":
        return set(rule.roles)
    return TOKEN


def _denied(response: Any) -> bool:
    if response.status_code in {401, 403}:
        return True
    location = response.headers.get("Location", "") if response.status_code in {301, 302, 303, 307} else ""
    return "/login" in location and "next=" in location


def test_the_matrix_covers_every_route(app: Flask) -> None:
    live = {rule.endpoint for rule in app.url_map.iter_rules() if not rule.endpoint.endswith("static")}
    assert live == {endpoint for endpoint, _, _ in ROUTES}
    assert set(STAFF_SIDE) <= live


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("endpoint, method, path", ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_role_matrix(app: Flask, endpoint: str, method: str, path: str, who: str) -> None:
    expected = _expected(app, endpoint, method, path)
    client = _client(app, who)
    response = client.open(path, method=method, json={} if path.startswith("/dashboard/_dash") else None,
                           data=None if path.startswith("/dashboard/_dash") else {})
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if expected == TOKEN:
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    elif who in expected:
        assert not _denied(response), (response.status_code, response.headers.get("Location"))
    else:
        assert _denied(response), (response.status_code, response.headers.get("Location"))
        if who in STAFF:
            assert response.status_code == 403  # signed in, wrong role: forbidden, not sent to sign in
