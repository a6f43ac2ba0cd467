"""Security properties of the citizen pages: access rules, CSRF, rate limits, headers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from reporting.authz import CITIZEN, PUBLIC, endpoints_without_rule
from reporting.extensions import db
from reporting.models import Account, WeeklyReport

from .citizens import SIGN_UP, last_link, make_profile, outbox

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_app(config: dict[str, object], app: Flask) -> Iterator[Callable[..., Flask]]:
    """Another app on the same test database with some settings changed (``app`` empties the tables after)."""
    from reporting import create_app

    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(create_app({**config, **overrides}))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def accounts(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Account))


def test_every_citizen_view_declares_who_may_call_it(app: Flask) -> None:
    citizen_views = {e: v for e, v in app.view_functions.items() if e.startswith("citizen.")}
    assert not [e for e in endpoints_without_rule(app) if e.startswith("citizen.")]
    public = {e for e, v in citizen_views.items() if v.access_rule == PUBLIC}
    # Public: the pages before login, and the pages whose link is their own authority (the weekly link, the
    # e-mail change link, one-click unsubscribe).
    assert public == {"citizen.home", "citizen.signup", "citizen.signup_sent", "citizen.signup_confirm",
                      "citizen.login", "citizen.login_sent", "citizen.login_link", "citizen.week",
                      "citizen.week_nobody_ill", "citizen.week_report", "citizen.email_confirm",
                      "citizen.unsubscribe", "citizen.withdrawn"}
    assert {e for e, v in citizen_views.items() if v.access_rule == CITIZEN} == {
        "citizen.logout", "citizen.me", "citizen.report", "citizen.report_thanks", "citizen.profile_new",
        "citizen.profile_edit", "citizen.profile_delete", "citizen.history", "citizen.settings_page",
        "citizen.settings_preferences", "citizen.settings_pause", "citizen.settings_reminders",
        "citizen.settings_email", "citizen.export_json", "citizen.export_csv", "citizen.withdraw"}


def test_post_without_csrf_token_is_refused_and_nothing_is_stored(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    refused = client.post("/signup?lang=en", data=SIGN_UP)
    assert refused.status_code == 400 and "Your form expired" in refused.data.decode()
    assert accounts(app) == 0
    wrong = client.post("/signup", data={**SIGN_UP, "csrf_token": "forged"})
    assert wrong.status_code == 400 and accounts(app) == 0
    token = CSRF_FIELD.search(client.get("/signup").data.decode()).group(1)
    accepted = client.post("/signup", data={**SIGN_UP, "csrf_token": token})
    assert accepted.status_code == 302 and len(outbox(app)) == 1  # the account follows when the link is opened


def test_confirmation_and_report_posts_need_the_csrf_token(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    _, profile_id = make_profile(app, "known@example.dk")
    client = app.test_client()
    token = CSRF_FIELD.search(client.get("/login").data.decode()).group(1)
    client.post("/login", data={"email": "known@example.dk", "csrf_token": token})
    path = last_link(app, "known@example.dk")
    assert client.post(path).status_code == 400  # no token: the link is not spent
    page = client.get(path).data.decode()
    assert client.post(path, data={"csrf_token": CSRF_FIELD.search(page).group(1)}).status_code == 302
    form = client.get(f"/report/{profile_id}").data.decode()
    submission_id = re.search(r'name="submission_id" value="([^"]+)"', form).group(1)
    assert client.post(f"/report/{profile_id}", data={"submission_id": submission_id, "symptoms": "none"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WeeklyReport)) == 0
    assert client.post("/logout").status_code == 400  # logging out is a form too
    assert client.get("/me").status_code == 200


def test_sign_up_and_login_requests_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    for _ in range(10):
        assert client.post("/login?lang=en", data={"email": "someone@example.dk"}).status_code == 302
    limited = client.post("/login?lang=en", data={"email": "someone@example.dk"})
    assert limited.status_code == 429 and "Too many attempts" in limited.data.decode()
    assert client.get("/login").status_code == 200  # reading the page is not limited
    for _ in range(10):
        client.post("/signup", data={"email": "bad"})
    assert client.post("/signup", data=SIGN_UP).status_code == 429
    assert accounts(app) == 0


def test_report_submission_is_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    _, profile_id = make_profile(app, "known@example.dk")
    client = app.test_client()
    client.post("/login", data={"email": "known@example.dk"})
    client.post(last_link(app, "known@example.dk"))
    statuses = [client.post(f"/report/{profile_id}", data={"symptoms": "nonsense"}).status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]


def test_headers_on_citizen_pages(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/signup", "/login"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["Referrer-Policy"] == "strict-origin"  # login links never leak in a Referer
    for path in ("/signup", "/login", "/login/link/x", "/signup/confirm/x"):
        assert client.get(path).headers["Cache-Control"] == "no-store"


def test_no_stack_trace_reaches_the_user(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/report/x/thanks/nope")
    assert response.status_code == 404 and "Traceback" not in response.data.decode()
    response = client.post("/signup", data={**SIGN_UP, "municipality": "1" * 400})
    assert response.status_code == 400 and "Traceback" not in response.data.decode()


def test_csrf_over_https_accepts_the_origin_only_referrer(make_app: Callable[..., Flask]) -> None:
    """Browsers send only the origin (Referrer-Policy: strict-origin); Flask-WTF's HTTPS check must pass."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    base = "https://covidmeter.example"
    page = client.get("/login", base_url=base)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.data.decode()).group(1)
    data = {"email": "someone@example.dk", "csrf_token": token}
    assert client.post("/login", data=data, base_url=base).status_code == 400  # no Referer at all: refused
    response = client.post("/login", data=data, base_url=base, headers={"Referer": base + "/"})
    assert response.status_code == 302


def test_api_sign_in_and_submission_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    _, profile_id = make_profile(app, "api@example.dk")
    client = app.test_client()
    statuses = [client.post("/api/v1/me/login", json={"email": "api@example.dk"}).status_code for _ in range(11)]
    assert statuses == [202] * 10 + [429]
    limited = client.post("/api/v1/me/session", json={"token": "x"})
    for _ in range(10):
        limited = client.post("/api/v1/me/session", json={"token": "x"})
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"


def test_api_calls_are_limited_per_session_with_rate_limit_headers(make_app: Callable[..., Flask]) -> None:
    from .test_citizen_api import sign_in

    app = make_app(RATELIMIT_ENABLED=True)
    _, profile_id = make_profile(app, "api@example.dk")
    make_profile(app, "other@example.dk")
    client = app.test_client()
    headers = sign_in(app, client, "api@example.dk")
    url = f"/api/v1/me/profiles/{profile_id}/reports"
    responses = [client.post(url, headers=headers, json={}) for _ in range(61)]
    assert [r.status_code for r in responses] == [422] * 60 + [429]  # every request counts, valid or not
    first, limited = responses[0], responses[-1]
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("60", "59")
    assert "Retry-After" not in first.headers  # only a refused request is asked to wait
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # The window opened with the first hit and ends at the same moment for every later one.
    assert abs(int(responses[30].headers["X-RateLimit-Reset"]) - int(first.headers["X-RateLimit-Reset"])) <= 1
    assert responses[30].headers["X-RateLimit-Remaining"] == "29"
    assert limited.mimetype == "application/problem+json" and limited.json["status"] == 429
    assert limited.json["detail"] == "Rate limit exceeded: 60 per 1 minute"
    assert limited.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" in limited.headers
    # Per session and per endpoint: another session may still submit, and this one may still read.
    other = sign_in(app, client, "other@example.dk")
    assert client.post(url, headers=other, json={}).status_code == 422
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.headers["X-RateLimit-Limit"] == "120"
    # A request with a bad token is refused, says nothing of limits and spends no real session's allowance
    # (the weekly report counts a request before its statement authenticates it, under the token's own key).
    for bad in ({}, {"submission_id": "app-submission-0001", "answers": {"symptoms": ["none"]}}):
        refused = client.post(url, headers={"Authorization": "Bearer cmm_forged"}, json=bad)
        assert refused.status_code == 401 and "X-RateLimit-Limit" not in refused.headers
    assert client.post(url, headers=other, json={}).headers["X-RateLimit-Remaining"] == "58"


def test_the_api_refuses_a_rate_limit_strategy_it_does_not_count_with(config: dict[str, object]) -> None:
    from reporting.config import ConfigurationError
    from reporting import create_app

    # (Rate limiting stays off here: Flask-Limiter's one shared instance keeps the first strategy it sees.)
    with pytest.raises(ConfigurationError, match="RATELIMIT_STRATEGY"):
        create_app({**config, "RATELIMIT_STRATEGY": "moving-window"})


def test_weekly_link_posts_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = [client.post("/week/unknown-link/nobody-ill").status_code for _ in range(21)]
    assert statuses == [410] * 20 + [429]


def redis_url() -> str | None:
    """The Redis to test against: reachable, or required (CI sets COVIDMETER_REQUIRE_REDIS=1)."""
    import os

    import redis

    url = os.environ.get("COVIDMETER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("COVIDMETER_REQUIRE_REDIS"):
            pytest.fail(f"Redis is required for this test and not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    return url


def test_rate_limits_are_shared_through_redis(make_app: Callable[..., Flask]) -> None:
    """With COVIDMETER_REDIS_URL set, every web process counts in the same Redis: two apps (two processes'
    worth of state) share one limit."""
    import secrets

    import redis

    url = redis_url()
    prefix = f"covidmeter-test-{secrets.token_hex(4)}"
    first = make_app(RATELIMIT_ENABLED=True, COVIDMETER_REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix)
    assert first.config["RATELIMIT_STORAGE_URI"] == url
    statuses = [first.test_client().post("/login", data={"email": "x@example.dk"}).status_code for _ in range(6)]
    second = make_app(RATELIMIT_ENABLED=True, COVIDMETER_REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix)
    statuses += [second.test_client().post("/login", data={"email": "x@example.dk"}).status_code for _ in range(5)]
    assert statuses == [302] * 10 + [429]
    connection = redis.Redis.from_url(url)
    keys = connection.keys(f"*{prefix}*")
    assert keys, "the limiter wrote nothing to Redis"
    connection.delete(*keys)


def test_api_rate_limits_are_shared_through_redis(make_app: Callable[..., Flask]) -> None:
    """The citizen API counts in Flask-Limiter's storage too: two apps share a session's submission limit."""
    import secrets

    import redis

    from .test_citizen_api import sign_in

    url = redis_url()
    prefix = f"covidmeter-test-{secrets.token_hex(4)}"
    first = make_app(RATELIMIT_ENABLED=True, COVIDMETER_REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix)
    _, profile_id = make_profile(first, "api@example.dk")
    headers = sign_in(first, first.test_client(), "api@example.dk")
    path = f"/api/v1/me/profiles/{profile_id}/reports"
    statuses = [first.test_client().post(path, headers=headers, json={}).status_code for _ in range(30)]
    second = make_app(RATELIMIT_ENABLED=True, COVIDMETER_REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix)
    statuses += [second.test_client().post(path, headers=headers, json={}).status_code for _ in range(31)]
    assert statuses == [422] * 60 + [429]
    connection = redis.Redis.from_url(url)
    keys = connection.keys(f"*{prefix}*")
    assert any(b"citizen_api.report_submit" in key for key in keys)
    connection.delete(*keys)


def test_no_inline_script_or_style_in_citizen_templates() -> None:
    """The CSP allows no inline script or style; the templates must not need any."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "reporting" / "templates"
    for path in [*root.glob("citizen/**/*.html"), *root.glob("questionnaire/*.html"), root / "base.html"]:
        text = path.read_text(encoding="utf-8")
        assert " style=" not in text and "<style" not in text, path
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, path
        assert re.search(r"\son[a-z]+=", text) is None, path  # no inline event handlers
