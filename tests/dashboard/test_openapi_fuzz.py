"""Schemathesis against the export API's OpenAPI document, in process (WSGI): generated queries for every
operation, with a valid token, must never give a server error and every answer must match the document."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance


OPERATIONS = ["/api/v1/incidence.csv", "/api/v1/incidence.json", "/api/v1/incidence.jsonl",
              "/api/v1/influenzanet.csv", "/api/v1/open/incidence.csv", "/api/v1/open/incidence.json",
              "/api/v1/open/incidence.jsonl"]


@pytest.mark.parametrize("path", OPERATIONS)
def test_export_api_matches_its_openapi_document(app: Flask, published: None, api_token: Callable[..., str],
                                                 path: str) -> None:
    """Generated queries (positive and negative) with a valid token: no 5xx, answers as documented."""
    secret = api_token("fuzz", scopes="export:read influenzanet:read")
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = api[path]["GET"]
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {secret}"})
        seen.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                                 status_code_conformance])

    run()
    assert seen and all(status < 500 for status in seen)
    assert 200 in seen  # the generator reached real answers, not only refusals


def test_the_document_is_openapi_3_1_and_public(client: object) -> None:
    response = client.get("/api/v1/openapi.json")  # type: ignore[attr-defined]
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) >= {"/api/v1/incidence.csv", "/api/v1/incidence.json", "/api/v1/incidence.jsonl",
                                      "/api/v1/influenzanet.csv", "/api/v1/open/incidence.json"}
    page = client.get("/api/v1/docs?lang=en")  # type: ignore[attr-defined]
    assert page.status_code == 200 and "as_of" in page.get_data(as_text=True)
    assert "/api/v1/open/incidence.csv" in page.get_data(as_text=True)
