"""A database outage (issue 12, fault 1): while PostgreSQL is stopped, restarting or refusing connections,
every route answers 503 with a short Retry-After (a problem document on the API and the dashboard's callbacks,
a translated page on the web), never 500 and never a traceback in the log; and the service recovers by itself
as soon as the database is back.

The fault is real: a private PostgreSQL cluster of the test's own, stopped ("fast": clients disconnected;
"immediate": every server process killed, a crash recovery at the next start) under a running app whose pool
holds connections to it. Every rule of the URL map is called with every kind of caller (anonymous, a signed-in
citizen, the citizen API's bearer, a staff session, an export token), so a new route is covered without being
named here."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.db import RETRY_AFTER_SECONDS
from reporting.problems import wants_json

from ..reporting.staff import PASSWORD, sign_in_fully, totp_secret
from ..reporting.citizens import log_in, make_profile
from ..reporting.test_citizen_api import sign_in as api_sign_in
from .pgcluster import PrivateCluster

# Calls that must read the database to answer at all, by caller: each must say 503 while it is away (the
# others may answer without it: /healthz, static files, the API documents, a 401 for a missing bearer).
MUST_BE_503 = {
    ("GET", "/me", "citizen"), ("GET", "/me/history", "citizen"), ("POST", "/signup", "anonymous"),
    ("POST", "/login", "anonymous"), ("POST", "/api/v1/me/login", "anonymous"), ("GET", "/api/v1/me", "bearer"),
    ("POST", "/api/v1/me/profiles/{profile}/reports", "bearer"), ("GET", "/report/{profile}", "citizen"),
    ("POST", "/report/{profile}", "citizen"), ("GET", "/api/v1/incidence.csv", "export"),
    ("GET", "/api/v1/incidence.json", "export"), ("GET", "/api/v1/open/incidence.csv", "anonymous"),
    ("GET", "/dashboard/", "staff"), ("POST", "/dashboard/_dash-update-component", "staff"),
    ("GET", "/staff/", "staff"), ("GET", "/admin/audit", "staff"), ("GET", "/readyz", "anonymous"),
}


@pytest.fixture
def outage_app(cluster: PrivateCluster) -> Iterator[Flask]:
    from reporting.extensions import db
    from reporting.staff.service import create_staff_user
    from wsgi import create_app

    app = create_app({"TESTING": True, "COVIDMETER_DATABASE_URL": cluster.url, "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "COVIDMETER_SECRET_KEY": "outage-test-secret-key-0123456789abcdef",
                      "COVIDMETER_BASE_URL": "http://localhost"})
    with app.app_context():
        user, _ = create_staff_user("admin@example.org", "admin", PASSWORD)
        user.totp_secret = totp_secret("admin@example.org")
        from reporting.models import utcnow

        user.totp_confirmed_at = utcnow()
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


class Callers:
    def __init__(self, app: Flask) -> None:
        from reporting.extensions import db
        from reporting.staff.service import create_api_token

        self.anonymous = app.test_client()
        self.citizen = app.test_client()
        _, self.profile = make_profile(app, "outage@example.dk")
        log_in(app, self.citizen, "outage@example.dk")
        self.bearer = api_sign_in(app, app.test_client(), "outage@example.dk")
        self.staff = app.test_client()
        assert sign_in_fully(self.staff, "admin@example.org").status_code == 302
        with app.app_context():
            self.export = {"Authorization": f"Bearer {create_api_token('outage', 'export:read', 30).secret}"}
            db.session.commit()
        self.dependencies = self.staff.get("/dashboard/_dash-dependencies").get_json()

    def calls(self, app: Flask, methods: set[str]
              ) -> Iterator[tuple[str, str, str, FlaskClient, dict[str, str], dict[str, Any]]]:
        """(method, path, caller, client, headers, request keywords) for every rule, method and caller."""
        for rule in app.url_map.iter_rules():
            path = _fill(rule.rule, self.profile)
            for method in sorted((rule.methods or set()) & methods):
                body: dict[str, Any] = {}
                if method in {"POST", "PUT", "PATCH"}:
                    body = ({"json": self._dash_body()} if "_dash-update-component" in path
                            else {"json": {"email": "x@example.dk", "submission_id": "outage-submission-01",
                                           "answers": {"symptoms": ["none"]}}} if path.startswith("/api/")
                            else {"data": {"email": "x@example.dk", "submission_id": "outage-submission-01",
                                           "symptoms": "none", "birth_year": "1980", "sex": "female",
                                           "municipality": "101", "household_size": "1", "consent": "2026-1"}})
                for caller, client, headers in (
                        ("anonymous", self.anonymous, {}), ("citizen", self.citizen, {}),
                        ("bearer", self.anonymous, self.bearer), ("staff", self.staff, {}),
                        ("export", self.anonymous, self.export)):
                    yield method, path, caller, client, headers, body

    def _dash_body(self) -> dict[str, Any]:
        dependency = next(d for d in self.dependencies if d["inputs"])
        outputs = [dict(zip(("id", "property"), p.split("."))) for p in dependency["output"].strip(".").split("...")]
        inputs = [{**item, "value": None} for item in dependency["inputs"]]
        return {"output": dependency["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": inputs, "state": [{**item, "value": None} for item in dependency.get("state", [])],
                "changedPropIds": [f"{i['id']}.{i['property']}" for i in dependency["inputs"]]}


def _fill(rule: str, profile: str) -> str:
    path = re.sub(r"<(?:\w+:)?profile_id>", profile, rule)
    path = re.sub(r"<int:\w+>", "1", path)
    path = re.sub(r"<path:\w+>", "x.js", path)
    return re.sub(r"<(?:string:)?\w+>", "x" * 32, path)


def _template(path: str, profile: str) -> str:
    return path.replace(profile, "{profile}")


READS = {"GET"}
EVERY_METHOD = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _sweep(app: Flask, callers: Callers, caplog: pytest.LogCaptureFixture, methods: set[str]
           ) -> dict[tuple[str, str, str], set[int]]:
    """Every call; with the database up only reads (a POST would log the callers out or withdraw them)."""
    seen: dict[tuple[str, str, str], set[int]] = {}
    caplog.clear()
    for method, path, caller, client, headers, body in callers.calls(app, methods):
        response = client.open(path, method=method, headers=headers, **body)
        status = response.status_code
        key = (method, _template(path, callers.profile), caller)
        seen.setdefault(key, set()).add(status)
        assert status < 500 or status == 503, (method, path, headers, status, response.get_data(as_text=True)[:400])
        if status == 503:
            assert response.headers.get("Retry-After") == str(RETRY_AFTER_SECONDS), (method, path)
            with app.test_request_context(path):
                machine = wants_json()  # the API and the machine endpoints a mounted app declared
            if machine:
                assert response.mimetype == "application/problem+json", (method, path, response.mimetype)
            elif path != "/readyz":
                assert response.mimetype == "text/html", (method, path, response.mimetype)
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks][:5]
    return seen


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_every_route_answers_503_while_the_database_is_away_and_recovers(
        outage_app: Flask, cluster: PrivateCluster, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    app = outage_app
    callers = Callers(app)
    before = _sweep(app, callers, caplog, READS)  # the pool now holds live connections to the server
    assert all(503 not in statuses for statuses in before.values()), {k: v for k, v in before.items() if 503 in v}

    cluster.stop(mode)  # pooled connections die; new ones are refused
    during = _sweep(app, callers, caplog, EVERY_METHOD)
    missing = {key for key in MUST_BE_503 if during.get(key) != {503}}
    assert not missing, {key: during.get(key) for key in missing}
    page = callers.citizen.get("/me", headers={"Accept-Language": "da"})
    assert page.status_code == 503 and "Prøv igen om få sekunder" in page.get_data(as_text=True)
    page = callers.citizen.get("/me", headers={"Accept-Language": "en"})
    assert "Please try again in a few seconds" in page.get_data(as_text=True)

    cluster.start()
    after = _sweep(app, callers, caplog, READS)
    still = {key: statuses for key, statuses in after.items() if 503 in statuses}
    assert not still, still
    assert callers.citizen.get("/me").status_code == 200
