"""The citizen JSON API under /api/v1/me: sign-in by mailed link exchanged for a bearer session, the same
validation and idempotency as the pages, RFC 9457 problems for every error, and its OpenAPI document."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, Profile, UserSession, WeeklyReport, Withdrawal

from .citizens import last_link, make_profile

ILL = {"symptoms": ["fever", "cough"], "persistent_cough": "yes", "same_illness": "no",
       "symptom_start": dt.date.today().isoformat(), "still_ill": "yes", "sudden_onset": "yes",
       "fever_start": dt.date.today().isoformat(), "fever_sudden": "yes", "temperature_measured": "no",
       "care": ["no"], "tested": "antigen", "test_result": "positive", "flu_tested": "no", "days_off": 2}


def sign_in(app: Flask, client: FlaskClient, email: str) -> dict[str, str]:
    assert client.post("/api/v1/me/login", json={"email": email}).status_code == 202
    token = last_link(app, email).rsplit("/", 1)[1]
    response = client.post("/api/v1/me/session", json={"token": token})
    assert response.status_code == 201, response.json
    assert response.json["token_type"] == "Bearer" and response.json["access_token"].startswith("cmm_")
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def is_problem(response: Any, status: int) -> bool:
    return (response.status_code == status and response.mimetype == "application/problem+json"
            and response.json["status"] == status and "title" in response.json)


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient) -> tuple[dict[str, str], str]:
    _, profile_id = make_profile(app, "app@example.dk")
    return sign_in(app, client, "app@example.dk"), profile_id


def test_login_answers_the_same_for_unknown_addresses(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "known@example.dk")
    known = client.post("/api/v1/me/login", json={"email": "known@example.dk"})
    unknown = client.post("/api/v1/me/login", json={"email": "unknown@example.dk"})
    assert known.status_code == unknown.status_code == 202 and known.json == unknown.json
    assert is_problem(client.post("/api/v1/me/login", json={"email": "nope"}), 422)
    assert is_problem(client.post("/api/v1/me/login", data="not json"), 400)


def test_a_link_is_exchanged_once_and_the_session_is_stored_hashed(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "once@example.dk")
    client.post("/api/v1/me/login", json={"email": "once@example.dk"})
    token = last_link(app, "once@example.dk").rsplit("/", 1)[1]
    first = client.post("/api/v1/me/session", json={"token": token})
    assert first.status_code == 201
    assert is_problem(client.post("/api/v1/me/session", json={"token": token}), 400)
    access = first.json["access_token"]
    with app.app_context():
        hashes = list(db.session.scalars(select(UserSession.session_hash)))
        assert access not in hashes and len(hashes) == 1
    headers = {"Authorization": f"Bearer {access}"}
    assert client.get("/api/v1/me", headers=headers).json["email"] == "once@example.dk"
    # Logging out revokes the token.
    assert client.delete("/api/v1/me/session", headers=headers).status_code == 204
    assert is_problem(client.get("/api/v1/me", headers=headers), 401)


def test_every_call_but_sign_in_needs_a_bearer_session(app: Flask, client: FlaskClient) -> None:
    _, profile_id = make_profile(app)
    for method, path in (("get", "/api/v1/me"), ("get", "/api/v1/me/reports"), ("get", "/api/v1/me/export"),
                         ("post", f"/api/v1/me/profiles/{profile_id}/reports"), ("delete", "/api/v1/me"),
                         ("get", "/api/v1/me/questionnaires/weekly"), ("patch", "/api/v1/me/settings")):
        for headers in ({}, {"Authorization": "Bearer cmm_forged"}, {"Authorization": "Basic x"}):
            response = getattr(client, method)(path, headers=headers, json={})
            assert is_problem(response, 401), (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # A cookie session is not a bearer token either way.
    assert count(app, Account) == 1 and count(app, WeeklyReport) == 0


def test_submit_replay_conflict_and_validation(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    headers, profile_id = signed_in
    url = f"/api/v1/me/profiles/{profile_id}/reports"
    body = {"submission_id": "app-submission-0001", "answers": ILL}
    created = client.post(url, json=body, headers=headers)
    assert created.status_code == 201, created.json
    report = created.json
    assert report["replayed"] is False and report["revision"] == 1 and report["questionnaire_version"] == "weekly-2"
    assert report["answers"]["symptoms"] == ["fever", "cough"] and report["answers"]["days_off"] == 2
    assert {a["key"] for a in report["advice"]} >= {"positive_test", "stay_home"}
    # The same submission again: stored once, the stored answer replayed.
    replay = client.post(url, json=body, headers=headers)
    assert replay.status_code == 200 and replay.json == {**report, "replayed": True}
    # The same id with other answers: 409, nothing changes.
    conflict = client.post(url, json={**body, "answers": {"symptoms": ["none"]}}, headers=headers)
    assert is_problem(conflict, 409)
    with app.app_context():
        (row,) = db.session.scalars(select(WeeklyReport)).all()
        assert row.fever and row.persistent_cough is True and row.tested == "antigen" and row.days_off == 2
        assert row.revision == 1 and row.care_none and not row.care_gp
    # Invalid answers: 422 with a message per question, in the language asked for.
    invalid = client.post(url, headers={**headers, "Accept-Language": "da"}, json={
        "submission_id": "app-submission-0002", "answers": {"symptoms": ["none", "fever"], "days_off": 9}})
    assert is_problem(invalid, 422) and "kan ikke kombineres" in invalid.json["errors"]["symptoms"]
    invalid = client.post(url, headers={**headers, "Accept-Language": "en"}, json={
        "submission_id": "app-submission-0003", "answers": {"symptoms": ["cough"]}})
    assert is_problem(invalid, 422) and invalid.json["errors"]["same_illness"] == "Choose an answer."
    assert is_problem(client.post(url, headers=headers, json={"submission_id": "short", "answers": ILL}), 422)
    assert is_problem(client.post(url, headers=headers, json={"submission_id": "app-submission-0004"}), 400)
    assert is_problem(client.post(url, headers=headers, data="[", content_type="application/json"), 400)
    assert count(app, WeeklyReport) == 1


def test_another_accounts_profile_is_not_found(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    headers, _ = signed_in
    _, theirs = make_profile(app, "someone@example.dk")
    response = client.post(f"/api/v1/me/profiles/{theirs}/reports", headers=headers,
                           json={"submission_id": "app-submission-0009", "answers": {"symptoms": ["none"]}})
    assert is_problem(response, 404)
    assert is_problem(client.put(f"/api/v1/me/profiles/{theirs}", headers=headers, json={"answers": {}}), 404)
    assert is_problem(client.delete(f"/api/v1/me/profiles/{theirs}", headers=headers), 404)
    assert count(app, WeeklyReport) == 0 and count(app, Profile) == 2


def test_profiles_history_settings_export_and_withdrawal(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    headers, own = signed_in
    intake = client.get("/api/v1/me/questionnaires/intake", headers=headers).json
    municipality = next(q for q in intake["questions"] if q["key"] == "municipality")
    assert len([o for g in municipality["groups"] for o in g["options"]]) == 98
    added = client.post("/api/v1/me/profiles", headers=headers, json={
        "relation": "parent", "display_name": "Far", "answers": {"birth_year": 1940, "sex": "male",
                                                                 "municipality": 851, "household_size": 1}})
    assert added.status_code == 201 and added.json["relation"] == "parent" and added.json["birth_year"] == 1940
    parent = added.json["id"]
    assert is_problem(client.post("/api/v1/me/profiles", headers=headers, json={
        "relation": "self", "answers": {}}), 422)
    updated = client.put(f"/api/v1/me/profiles/{parent}", headers=headers, json={
        "display_name": "Far", "answers": {"birth_year": 1941, "sex": "male", "municipality": 851,
                                           "household_size": 2, "chronic_condition": "yes"}})
    assert updated.status_code == 200 and updated.json["birth_year"] == 1941
    client.post(f"/api/v1/me/profiles/{parent}/reports", headers=headers,
                json={"submission_id": "parent-report-00001", "answers": {"symptoms": ["fever"], **{
                    k: v for k, v in ILL.items() if k not in ("symptoms", "persistent_cough")}}})
    me = client.get("/api/v1/me", headers=headers).json
    assert [p["reported_this_week"] for p in me["profiles"]] == [False, True]
    history = client.get("/api/v1/me/reports", headers=headers).json
    assert [p["profile_id"] for p in history["profiles"]] == [parent]
    assert history["profiles"][0]["reports"][0]["symptoms"] == ["fever"]
    settings_ = client.patch("/api/v1/me/settings", headers=headers, json={
        "language": "en", "reminder_weekday": 3, "reminders_paused_until": "2030-01-01", "reminders": "off"})
    assert settings_.status_code == 200 and settings_.json["reminders"] == {
        "weekday": 3, "paused_until": "2030-01-01", "stopped": True}
    assert is_problem(client.patch("/api/v1/me/settings", headers=headers, json={"reminder_weekday": 7}), 422)
    export = client.get("/api/v1/me/export", headers=headers).json
    assert export["account"]["email"] == "app@example.dk" and len(export["profiles"]) == 2
    assert is_problem(client.delete(f"/api/v1/me/profiles/{own}", headers=headers), 409)
    assert client.delete(f"/api/v1/me/profiles/{parent}", headers=headers).status_code == 204
    assert client.delete("/api/v1/me", headers=headers).status_code == 204
    assert count(app, Account) == 0 and count(app, WeeklyReport) == 0
    with app.app_context():
        assert db.session.scalar(select(Withdrawal.channel)) == "api"
    assert is_problem(client.get("/api/v1/me", headers=headers), 401)


def test_unknown_paths_and_methods_are_problems(client: FlaskClient) -> None:
    assert is_problem(client.get("/api/v1/me/nothing-here"), 404)
    assert is_problem(client.put("/api/v1/me/login", json={}), 405)


def test_openapi_document_is_valid_and_matches_the_routes(app: Flask, client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    response = client.get("/api/v1/me/openapi.json")
    assert response.status_code == 200
    document = response.json
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("citizen_api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_every_api_view_declares_who_may_call_it(app: Flask) -> None:
    from reporting.authz import PUBLIC
    from reporting.citizen_api.routes import BEARER

    views = {e: v for e, v in app.view_functions.items() if e.startswith("citizen_api.")}
    assert {e for e, v in views.items() if v.access_rule == PUBLIC} == {
        "citizen_api.openapi", "citizen_api.login", "citizen_api.session_create"}
    assert all(v.access_rule in (PUBLIC, BEARER) for v in views.values())


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
                       lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
                       max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.dictionaries(st.sampled_from(sorted(ILL) + ["symptoms", "x"]), JSONISH, max_size=8),
       submission=st.text(max_size=70))
def test_any_json_is_answered_without_a_server_error(app: Flask, client: FlaskClient, signed_in: Any,
                                                     answers: dict[str, Any], submission: str) -> None:
    headers, profile_id = signed_in
    response = client.post(f"/api/v1/me/profiles/{profile_id}/reports", headers=headers,
                           data=json.dumps({"submission_id": submission, "answers": answers}),
                           content_type="application/json")
    assert response.status_code in (200, 201, 400, 409, 422), response.json
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
