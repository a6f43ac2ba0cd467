"""Who may reach the dashboard and the export: the role matrix, and deny-by-default for every route."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.authz import endpoints_without_rule
from reporting.extensions import db
from reporting.models import Account, UserSession, utcnow
from reporting.security import hash_secret
from tests.reporting.staff import bearer

DASHBOARD = "/dashboard/"
LAYOUT = "/dashboard/_dash-layout"
EXPORT = "/api/v1/incidence.csv"


def test_every_endpoint_has_an_access_rule(app: Flask) -> None:
    assert endpoints_without_rule(app) == []


def citizen_client(app: Flask) -> FlaskClient:
    """A citizen with a full login session (made directly: the citizen login is another slice)."""
    sid = secrets.token_urlsafe(32)
    with app.app_context():
        account = Account(email=f"{secrets.token_hex(4)}@example.org", status="active")
        db.session.add(account)
        db.session.flush()
        db.session.add(UserSession(session_hash=hash_secret(sid), account_id=account.id,
                                   expires_at=utcnow() + dt.timedelta(hours=1)))
        db.session.commit()
    client = app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["sid"] = sid
    return client


@pytest.mark.parametrize("who, dashboard, layout, export", [
    ("anonymous", 302, 401, 401),
    ("citizen", 302, 401, 401),  # not staff: sent to the staff sign-in, like anyone not signed in as staff
    ("epidemiologist", 200, 200, 401),
    ("authority", 200, 200, 401),
    ("admin", 200, 200, 401),
])
def test_role_matrix(app: Flask, staff_client: Callable[[str], FlaskClient], who: str, dashboard: int,
                     layout: int, export: int) -> None:
    if who == "anonymous":
        client = app.test_client()
    elif who == "citizen":
        client = citizen_client(app)
    else:
        client = staff_client(who)
    assert client.get(DASHBOARD).status_code == dashboard
    assert client.get(LAYOUT).status_code == layout
    # A staff session is not an API credential: the export wants a bearer token, whoever is signed in.
    response = client.get(EXPORT)
    assert response.status_code == export
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_dash_internals_are_staff_only(client: FlaskClient) -> None:
    for path in ("/dashboard/_dash-dependencies", "/dashboard/assets/europe_50m.json",
                 "/dashboard/_dash-component-suites/dash/dcc/dash_core_components.js", "/dashboard/anything"):
        assert client.get(path).status_code in {302, 401}, path
    assert client.post("/dashboard/_dash-update-component", json={}).status_code == 401


def test_a_token_opens_the_export_but_not_the_dashboard(client: FlaskClient,
                                                         api_token: Callable[..., str]) -> None:
    secret = api_token()
    assert client.get(EXPORT, headers=bearer(secret)).status_code == 200
    assert client.get(LAYOUT, headers=bearer(secret)).status_code == 401
