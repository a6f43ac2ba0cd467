"""The export's newer parameters and formats: method, age_band, sex, as_of; JSON lines; Delphi columns;
the Influenzanet file; open data without login (public cells only)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.dashboard.conftest import WEEK1, WEEK2, WEEK3, estimate

from tests.reporting.staff import bearer

Token = Callable[..., str]


def rows_of(response: object) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))  # type: ignore[attr-defined]


def test_as_of_serves_the_figures_published_then(client: FlaskClient, api_token: Token, published: None) -> None:
    secret = api_token()
    # Week 1 nationally: a provisional issue 2026-01-13 (10 per 1,000) that only staff see, and the final one
    # 2026-01-20 (15 per 1,000), the one issue the export ever serves for that week.
    def national_week1(query: str) -> list[dict[str, str]]:
        return [r for r in rows_of(client.get(f"/api/v1/incidence.csv?geo=DK&age_band=all&sex=all{query}",
                                              headers=bearer(secret))) if r["week"] == "2026-W02"]
    assert national_week1("")[0]["incidence_per_1000"] == "15.0"
    assert national_week1("&as_of=2026-01-15") == []  # only provisional then: not published
    assert national_week1("&as_of=2026-01-20")[0]["incidence_per_1000"] == "15.0"
    assert national_week1("&as_of=2026-01-12") == []  # nothing was published yet
    early = rows_of(client.get("/api/v1/incidence.csv?geo=DK&as_of=2026-01-20", headers=bearer(secret)))
    assert {r["week"] for r in early} == {"2026-W02"}  # week 3's final issue came on 2026-01-26
    later = rows_of(client.get("/api/v1/incidence.csv?geo=DK&as_of=2026-01-26", headers=bearer(secret)))
    assert {r["week"] for r in later} == {"2026-W02", "2026-W03"}


def test_provisional_issues_are_never_exported(client: FlaskClient, api_token: Token,
                                               publish: Callable[..., None]) -> None:
    """Every path of the export's OpenAPI document, in every format: a provisional issue is served by none."""
    publish([estimate(WEEK1, "DK", incidence=0.02, cases=20, final=False)])
    secret = api_token(scopes="export:read influenzanet:read")
    paths = [path for path in client.get("/api/v1/openapi.json").get_json()["paths"]
             if not path.endswith(("openapi.json", "/docs"))]
    assert {"/api/v1/incidence.csv", "/api/v1/influenzanet.csv", "/api/v1/open/incidence.json"} <= set(paths)
    for path in paths:
        response = client.get(path, headers=bearer(secret))
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        body = response.get_data(as_text=True)
        assert "2026-W02" not in body and "202602" not in body and "0.02" not in body, (path, body[:300])


def test_method_age_band_and_sex(client: FlaskClient, api_token: Token, publish: Callable[..., None]) -> None:
    publish([estimate(WEEK1, "DK", age_band="65+", sex="female", incidence=0.007),
             estimate(WEEK1, "DK", age_band="65+", sex="male", incidence=0.008),
             estimate(WEEK1, "DK", age_band="0-20", sex="female", incidence=0.009),
             estimate(WEEK1, "DK", method="w1_s2_if2_ex", incidence=0.004)])
    secret = api_token()
    females = rows_of(client.get("/api/v1/incidence.csv?sex=female", headers=bearer(secret)))
    assert {(r["age_band"], r["incidence_per_1000"]) for r in females} == {("65+", "7.0"), ("0-20", "9.0")}
    old = rows_of(client.get("/api/v1/incidence.csv?age_band=65%2B", headers=bearer(secret)))
    assert {r["sex"] for r in old} == {"female", "male"}
    # Only the definition's reference method is published (covid.ecdc: w0); another method is refused.
    other = client.get("/api/v1/incidence.csv?method=w1_s2_if2_ex", headers=bearer(secret))
    assert other.status_code == 422 and other.get_json()["parameter"] == "method"
    reference = rows_of(client.get("/api/v1/incidence.csv?method=w0", headers=bearer(secret)))
    assert {r["method"] for r in reference} == {"w0"}


@pytest.mark.parametrize("query, parameter", [
    ("method=w9", "method"), ("age_band=90-99", "age_band"), ("sex=unknown", "sex"),
    ("as_of=2026-02-30", "as_of"), ("as_of=yesterday", "as_of"), ("as_of=20260101", "as_of"),
    ("geo=DK&geo=1084", "geo"), ("definition=" + "x" * 300, "definition"), ("geo=%00", "geo"),
    ("from=\u0662\u0660\u0662\u0666-W01", "from")])  # digits of another script
def test_new_parameters_refuse_bad_values(client: FlaskClient, api_token: Token, query: str,
                                          parameter: str) -> None:
    response = client.get(f"/api/v1/incidence.json?{query}", headers=bearer(api_token()))
    assert response.status_code in {400, 422} and response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == parameter


def test_json_lines(client: FlaskClient, api_token: Token, published: None) -> None:
    response = client.get("/api/v1/incidence.jsonl?geo_type=nation", headers=bearer(api_token()))
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = response.get_data(as_text=True).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["week"] for r in rows] == ["2026-W02", "2026-W03", "2026-W04"]
    assert rows[0]["incidence_per_1000"] == pytest.approx(15.0)


def test_delphi_columns_beside_ours(client: FlaskClient, api_token: Token, publish: Callable[..., None]) -> None:
    row = estimate(WEEK3, "1084", incidence=0.02, active=1000, issue=WEEK3 + dt.timedelta(days=16))
    row.stderr = 0.0044
    publish([row, estimate(WEEK3, "1081", cases=None, incidence=None, lower=None, upper=None, missing_reason=3)])
    rows = {r["geo_code"]: r for r in rows_of(client.get("/api/v1/incidence.csv", headers=bearer(api_token())))}
    shown, withheld = rows["1084"], rows["1081"]
    assert shown["source"] == "covidmeter" and shown["signal"] == "covid.ecdc_v1_w0_incidence_per_1000"
    assert shown["geo_value"] == "dk-84" and shown["time_type"] == "week" and shown["time_value"] == "202604"
    assert shown["value"] == "20.0" and shown["stderr"] == "4.4" and shown["sample_size"] == "1000"
    assert shown["lag"] == "10"  # issued 16 days after the Monday: 10 days after the Sunday
    assert shown["missing_value"] == shown["missing_stderr"] == shown["missing_sample_size"] == "0"
    assert withheld["value"] == "" and withheld["missing_value"] == "3" and withheld["missing_sample_size"] == "0"


def test_influenzanet_file(client: FlaskClient, api_token: Token, publish: Callable[..., None]) -> None:
    crude_and_adjusted = estimate(WEEK2, "DK", incidence=0.02, lower=0.015, upper=0.026, cases=100, active=5000)
    crude_and_adjusted.standardised_incidence = 0.021
    crude_and_adjusted.standardised_lower_95 = 0.016
    crude_and_adjusted.standardised_upper_95 = 0.027
    publish([crude_and_adjusted, estimate(WEEK1, "DK", incidence=0.01), estimate(WEEK2, "1084")])
    secret = api_token(scopes="influenzanet:read")
    response = client.get("/api/v1/influenzanet.csv?from=2026-W03", headers=bearer(secret))
    assert response.get_data(as_text=True).startswith(
        "yw,country,syndrome,type,method,incidence,upper,lower,count,part,season\r\n")
    rows = rows_of(response)
    assert [(r["yw"], r["type"], r["incidence"], r["lower"], r["upper"], r["count"], r["part"], r["season"])
            for r in rows] == [("202603", "crude", "0.02", "0.015", "0.026", "100", "5000", "2025"),
                               ("202603", "adj", "0.021", "0.016", "0.027", "100", "5000", "2025")]
    assert rows[0]["country"] == "DK" and rows[0]["syndrome"] == "covid.ecdc" and rows[0]["method"] == "w0"
    # The scope is its own: an export-only token cannot fetch it, and this one cannot fetch the export.
    assert client.get("/api/v1/influenzanet.csv", headers=bearer(api_token("export-only"))).status_code == 403
    assert client.get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 403
    assert client.get("/api/v1/influenzanet.csv?geo=DK", headers=bearer(secret)).status_code == 400


def test_open_data_serves_only_public_cells_without_login(client: FlaskClient, publish: Callable[..., None]) -> None:
    public_row = estimate(WEEK1, "DK", incidence=0.01)
    public_row.public = True
    revised_not_public = estimate(WEEK2, "1084", incidence=0.02, issue=WEEK2 + dt.timedelta(days=8))
    revised_not_public.public = True
    newer = estimate(WEEK2, "1084", incidence=0.03, issue=WEEK2 + dt.timedelta(days=15))  # public False
    publish([public_row, revised_not_public, newer, estimate(WEEK2, "DK", incidence=0.5)])
    response = client.get("/api/v1/open/incidence.csv")
    rows = rows_of(response)
    assert [(r["geo_code"], r["week"]) for r in rows] == [("DK", "2026-W02")]
    body = client.get("/api/v1/open/incidence.json").get_json()
    assert body["meta"]["query"]["public_only"] is True and len(body["rows"]) == 1
    assert len(client.get("/api/v1/open/incidence.jsonl").get_data(as_text=True).splitlines()) == 1
    bad = client.get("/api/v1/open/incidence.csv?from=soon")
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"


def test_open_data_is_rate_limited_per_address(config: dict[str, object]) -> None:
    from reporting.extensions import db
    from wsgi import create_app

    limited = create_app({**config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    statuses = [client.get("/api/v1/open/incidence.json").status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
    with limited.app_context():
        db.engine.dispose()
