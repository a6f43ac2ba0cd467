"""The aggregate export API: bearer tokens, filters, CSV and JSON, problem documents, audit, rate limit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import ApiToken, AuditEvent, utcnow
from tests.dashboard.conftest import WEEK1, WEEK3, estimate
from tests.reporting.staff import bearer

CSV = "/api/v1/incidence.csv"
JSON = "/api/v1/incidence.json"
Token = Callable[..., str]


def read_csv(response: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))  # type: ignore[attr-defined]


# --- authentication ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
                                     {"Authorization": "Bearer cmt_not-a-real-token"},
                                     {"Authorization": "Bearer something-else"}])
def test_missing_or_unknown_token_is_401_with_challenge(client: FlaskClient, headers: dict[str, str]) -> None:
    for path in (CSV, JSON):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="covidmeter"')


def test_revoked_and_expired_tokens_are_refused(app: Flask, client: FlaskClient, api_token: Token) -> None:
    revoked, expired = api_token("revoked"), api_token("expired")
    with app.app_context():
        from reporting.staff.service import revoke_api_token

        revoke_api_token("revoked")
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "expired"))
        token.expires_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    for secret in (revoked, expired):
        response = client.get(CSV, headers=bearer(secret))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_without_the_scope_is_403(client: FlaskClient, api_token: Token) -> None:
    response = client.get(CSV, headers=bearer(api_token(scopes="influenzanet:read")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_use_is_recorded_and_audited_without_figures(app: Flask, client: FlaskClient, api_token: Token,
                                                     published: None) -> None:
    secret = api_token()
    response = client.get(CSV + "?geo_type=region&from=2026-W02", headers=bearer(secret))
    assert response.status_code == 200
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "ssi-import"))
        assert token.last_used_at is not None
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")
                                   .order_by(AuditEvent.id.desc())).first()
    assert event.actor_kind == "token" and event.actor_id == str(token.id)
    assert event.target == f"token:{token.id}"
    assert event.detail["token_id"] == token.id and event.detail["format"] == "csv"
    assert event.detail["query"]["geo_type"] == "region" and event.detail["query"]["from"] == "2026-W02"
    assert "rows" not in event.detail and "incidence" not in str(event.detail)


# --- content ----------------------------------------------------------------------------------------------

def test_csv_columns_latest_issue_and_suppressed_cells(client: FlaskClient, api_token: Token,
                                                       published: None) -> None:
    response = client.get(CSV, headers=bearer(api_token()))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv; charset=utf-8")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True).startswith(
        "week,week_start,geo_type,geo_code,geo_name,definition,definition_version,method,age_band,sex,active,"
        "cases,incidence_per_1000,lower_95,upper_95,wilson_lower_95,wilson_upper_95,standardised_per_1000,"
        "standardised_lower_95,standardised_upper_95,display_censored,missing_reason,issue,provisional,"
        "source,signal,geo_value,time_type,time_value,value,stderr,sample_size,lag,missing_value,"
        "missing_stderr,missing_sample_size\r\n")
    rows = read_csv(response)
    assert len(rows) == 18  # 3 weeks x (Denmark + 5 regions), newest issue only
    national = [r for r in rows if r["geo_code"] == "DK"]
    assert [(r["week"], r["week_start"], r["incidence_per_1000"], r["issue"], r["provisional"], r["lag"])
            for r in national] == [
        ("2026-W02", "2026-01-05", "15.0", "2026-01-20", "False", "9"),
        ("2026-W03", "2026-01-12", "20.0", "2026-01-26", "False", "8"),
        ("2026-W04", "2026-01-19", "30.0", "2026-02-02", "False", "8"),
    ]
    assert national[0]["definition"] == "covid.ecdc" and national[0]["definition_version"] == "1"
    assert national[0]["method"] == "w0" and national[0]["geo_name"] == "Denmark"
    suppressed = next(r for r in rows if r["geo_code"] == "1081" and r["week"] == "2026-W04")
    assert suppressed["missing_reason"] == "3"
    assert suppressed["cases"] == suppressed["incidence_per_1000"] == ""
    assert suppressed["lower_95"] == suppressed["upper_95"] == ""
    assert suppressed["geo_name"] == "Region Nordjylland" and suppressed["active"] == "400"


def test_json_has_meta_and_rows(client: FlaskClient, api_token: Token, published: None) -> None:
    response = client.get(JSON + "?definition=covid.ecdc&geo=DK-84,1085&from=2026-W03&to=2026-W04",
                          headers=bearer(api_token()))
    assert response.status_code == 200
    body = response.get_json()
    meta = body["meta"]
    assert meta["query"] == {"definition": "covid.ecdc", "definition_version": 1, "method": "w0",
                             "geo_type": None, "geo": ["1084", "1085"], "from": "2026-W03", "to": "2026-W04",
                             "age_band": None, "sex": None, "as_of": None, "public_only": False}
    assert meta["definitions"][0]["key"] == "covid.ecdc" and meta["rows"] == 4
    assert meta["missing_reasons"]["3"].startswith("privacy")
    dt.datetime.fromisoformat(meta["generated"])
    assert [(r["geo_code"], r["week"]) for r in body["rows"]] == [
        ("1084", "2026-W03"), ("1085", "2026-W03"), ("1084", "2026-W04"), ("1085", "2026-W04")]
    assert body["rows"][0]["incidence_per_1000"] == pytest.approx(17.0)


@pytest.mark.parametrize("query, expected", [
    ("geo_type=nation", {("DK", "2026-W02"), ("DK", "2026-W03"), ("DK", "2026-W04")}),
    ("geo_type=region&geo=1081&to=2026-W03", {("1081", "2026-W02"), ("1081", "2026-W03")}),
    ("geo=dk-81,DK&from=2026-W04", {("1081", "2026-W04"), ("DK", "2026-W04")}),
    ("definition=ili.ecdc", {("DK", "2026-W02")}),
    ("definition=cli", set()),
])
def test_filters(client: FlaskClient, api_token: Token, published: None, query: str,
                 expected: set[tuple[str, str]]) -> None:
    rows = read_csv(client.get(f"{CSV}?{query}", headers=bearer(api_token())))
    assert {(r["geo_code"], r["week"]) for r in rows} == expected


def test_strata_are_exported_with_their_labels(client: FlaskClient, api_token: Token,
                                               publish: Callable[..., None]) -> None:
    publish([estimate(WEEK1, "DK", age_band="65+", sex="female", cases=7, incidence=0.007),
             estimate(WEEK1, "DK")])
    rows = read_csv(client.get(CSV, headers=bearer(api_token())))
    assert {(r["age_band"], r["sex"]) for r in rows} == {("all", "all"), ("65+", "female")}


NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def test_formula_like_cells_are_neutralised(client: FlaskClient, api_token: Token,
                                            publish: Callable[..., None]) -> None:
    # A stratum label is data that the export does not control: make it hostile.
    publish([estimate(WEEK3, "DK", age_band="=1+2", sex="@SUM(A1)"), estimate(WEEK3, "DK", age_band="-5-x", sex="+x")])
    text = client.get(CSV, headers=bearer(api_token())).get_data(as_text=True)
    assert "'=1+2,'@SUM(A1)" in text and "'-5-x,'+x" in text
    for row in read_csv(client.get(CSV, headers=bearer(api_token("second")))):
        # Only a plain number may start with + or - (it is read as a number, never run as a formula).
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) and not NUMBER.fullmatch(value)
                       for value in row.values())


# --- bad input: problem documents, never 500 --------------------------------------------------------------

@pytest.mark.parametrize("query, status, parameter", [
    ("definition=flu.unknown", 422, "definition"),
    ("from=2026-13", 400, "from"),
    ("to=2026-W54", 400, "to"),
    ("from=last-week", 400, "from"),
    ("from=2026-W10&to=2026-W02", 422, "from"),
    ("geo=1086", 422, "geo"),
    ("geo=DK-99", 422, "geo"),
    ("geo=", 422, "geo"),
    ("geo_type=municipality", 400, "geo_type"),
    ("geo_type=nation&geo=1084", 422, "geo"),
    ("format=xlsx", 400, "format"),
])
def test_bad_input_is_a_problem_document(client: FlaskClient, api_token: Token, query: str, status: int,
                                         parameter: str) -> None:
    secret = api_token()
    for path in (CSV, JSON):
        response = client.get(f"{path}?{query}", headers=bearer(secret))
        assert response.status_code == status, (path, query, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["status"] == status and body["parameter"] == parameter and body["detail"]


def test_unknown_api_path_is_a_problem_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_export_is_rate_limited_per_token(config: dict[str, object]) -> None:
    from reporting.staff.service import create_api_token
    from wsgi import create_app

    limited = create_app({**config, "RATELIMIT_ENABLED": True, "COVIDMETER_EXPORT_RATE_LIMIT": "3/minute"})
    with limited.app_context():
        first = create_api_token("limited-one").secret
        second = create_api_token("limited-two").secret
    client = limited.test_client()
    assert [client.get(CSV, headers=bearer(first)).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get(JSON, headers=bearer(first)).status_code == 429  # one budget for both formats
    assert client.get(CSV, headers=bearer(second)).status_code == 200  # another token has its own
    limited_response = client.get(CSV, headers=bearer(first))
    assert limited_response.mimetype == "application/problem+json"
    with limited.app_context():
        db.engine.dispose()


def test_failed_authentication_is_rate_limited_per_client(config: dict[str, object]) -> None:
    from wsgi import create_app

    limited = create_app({**config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    statuses = [client.get(CSV, headers=bearer(f"cmt_guess{i}")).status_code for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
    with limited.app_context():
        db.engine.dispose()
