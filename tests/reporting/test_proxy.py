"""Production behind a TLS-terminating proxy (docs/operations in README, "Production"): with
COVIDMETER_ENV=production the session cookie is Secure, HttpOnly and SameSite=Lax and every answer carries HSTS;
with COVIDMETER_TRUSTED_PROXIES=1 the client's address and scheme come from the proxy's X-Forwarded-* headers
(so rate limits are per person, not one limit for everyone behind the proxy), and a client's own forged
X-Forwarded-For buys it nothing, with or without a proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request

from reporting.authz import PUBLIC, access

from ..conftest import empty_tables
from .citizens import last_link, make_profile, outbox

PROXY = "10.0.0.2"  # the proxy's own address, as gunicorn sees it


@pytest.fixture
def production_app(database_url: str) -> Iterator[Callable[[int], Flask]]:
    from reporting import create_app

    made: list[Flask] = []

    def make(proxies: int) -> Flask:
        app = create_app({"COVIDMETER_ENV": "production", "COVIDMETER_SECRET_KEY": "production-secret-" + "k" * 40,
                          "COVIDMETER_DATABASE_URL": database_url, "COVIDMETER_BASE_URL": "https://covidmeter.example.dk",
                          "COVIDMETER_TRUSTED_PROXIES": proxies, "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", "WTF_CSRF_ENABLED": False})

        @app.get("/_test/where")
        @access(PUBLIC)
        def where() -> Any:  # what the app believes about the request
            return {"remote_addr": request.remote_addr, "secure": request.is_secure, "host": request.host,
                    "url": request.url}

        made.append(app)
        return app

    yield make
    from reporting.extensions import db

    for app in made:
        with app.app_context():
            db.engine.dispose()
    empty_tables(database_url)


def _through_proxy(client_address: str, forged: str | None = None) -> dict[str, Any]:
    forwarded_for = f"{forged}, {client_address}" if forged else client_address
    # The proxy speaks plain HTTP to the app (Flask's test client would otherwise take PREFERRED_URL_SCHEME).
    return {"environ_base": {"REMOTE_ADDR": PROXY}, "base_url": "http://localhost",
            "headers": {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https",
                        "X-Forwarded-Host": "covidmeter.example.dk", "X-Forwarded-Port": "443"}}


def test_behind_one_proxy_the_app_sees_the_client_and_https(production_app: Callable[[int], Flask]) -> None:
    client = production_app(1).test_client()
    seen = client.get("/_test/where", **_through_proxy("198.51.100.7", forged="203.0.113.66")).json
    assert seen == {"remote_addr": "198.51.100.7", "secure": True, "host": "covidmeter.example.dk",
                    "url": "https://covidmeter.example.dk/_test/where"}
    # Without a trusted proxy the same headers are the client's claims, and ignored.
    client = production_app(0).test_client()
    seen = client.get("/_test/where", **_through_proxy("198.51.100.7", forged="203.0.113.66")).json
    assert seen["remote_addr"] == PROXY and seen["secure"] is False and seen["host"] == "localhost"


def test_production_session_cookie_is_secure_and_answers_carry_hsts(production_app: Callable[[int], Flask]) -> None:
    app = production_app(1)
    make_profile(app, "prod@example.dk")
    client = app.test_client()
    assert client.post("/login", data={"email": "prod@example.dk"}, **_through_proxy("198.51.100.7")).status_code == 302
    link = last_link(app, "prod@example.dk")
    signed_in = client.post(link, **_through_proxy("198.51.100.7"))
    assert signed_in.status_code == 302
    cookie = next(v for k, v in signed_in.headers.items() if k == "Set-Cookie" and v.startswith("covidmeter_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite"} <= attributes and "SameSite=Lax" in cookie
    assert signed_in.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    mail = outbox(app)[-1]
    assert "https://covidmeter.example.dk/login/link/" in mail.body_text


@pytest.mark.parametrize("proxies", [0, 1])
def test_rate_limits_are_per_client_and_a_forged_address_buys_nothing(
        production_app: Callable[[int], Flask], proxies: int) -> None:
    client = production_app(proxies).test_client()

    def attempt(address: str, forged: str | None = None) -> int:
        return client.post("/api/v1/me/login", json={"email": "nobody@example.dk"},
                           **_through_proxy(address, forged)).status_code

    assert [attempt("198.51.100.7") for _ in range(10)] == [202] * 10
    assert attempt("198.51.100.7") == 429
    assert attempt("198.51.100.7", forged="203.0.113.99") == 429  # a forged header does not reset the count
    # Another person behind the same proxy has their own limit; without a trusted proxy everyone shares the
    # proxy's address (which is why COVIDMETER_TRUSTED_PROXIES must be set behind one).
    assert attempt("198.51.100.8") == (202 if proxies else 429)
