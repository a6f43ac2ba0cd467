"""Hostile request bodies are refused, never a server error (issue 12, fault 5)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

DEEP = "[" * 1000 + "]" * 1000  # ~2 KB: past Python's recursion limit in the JSON parser
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


@pytest.fixture
def app(service: Flask) -> Flask:
    """Every route of the whole service, the dashboard's too."""
    return service


def _urls(app: Flask) -> list[str]:
    """Every route that takes a POST, its path variables filled with something of the right shape."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()):
            continue
        urls.append(re.sub(r"<(?:[^:>]+:)?[^>]+>", "x" * 43, rule.rule))
    return sorted(set(urls))


def test_deeply_nested_json_answers_400_on_every_post_route(app: Flask, client: FlaskClient) -> None:
    urls = _urls(app)
    assert "/api/v1/me/login" in urls and any(url.startswith("/dashboard/") for url in urls)
    for url in urls:
        for body in (DEEP, DEEP_OBJECT):
            response = client.post(url, data=body, content_type="application/json")
            assert response.status_code < 500, (url, response.status_code, response.get_data(as_text=True)[:200])
    response = client.post("/api/v1/me/login", data=DEEP, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_a_method_not_allowed_says_which_are(app: Flask, client: FlaskClient) -> None:
    """Every 405, page or API, carries the Allow header (RFC 9110, 15.5.6)."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if "{" in rule.rule or "<" in rule.rule or rule.rule.startswith("/dashboard/"):
            continue
        for method in ("DELETE", "PATCH"):
            if method in (rule.methods or ()):
                continue
            response = getattr(client, method.lower())(rule.rule)
            if response.status_code == 405:
                checked += 1
                allowed = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
                assert allowed and method not in allowed, (rule.rule, method, response.headers)
    assert checked > 10
