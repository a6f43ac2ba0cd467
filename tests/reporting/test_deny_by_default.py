"""Deny by default, for tokens too (issue 13, item 3): every rule is enforced by ``authz.enforce``, the one
authentication step. A view declared ``@access(token(...))`` in a blueprint that names no token
authenticator is refused, not served; the authenticators of the two APIs answer 401 with one problem type and a
Bearer challenge (RFC 6750), whoever raised it."""

from __future__ import annotations

import logging

import pytest
from flask import Blueprint, Flask, request

from reporting import create_app
from reporting.authz import access, authenticates_tokens, token


def _mount(app: Flask, name: str, with_authenticator: bool) -> list[str]:
    bp = Blueprint(name, __name__, url_prefix=f"/_{name}")
    calls: list[str] = []

    @bp.get("/secret")
    @access(token("export:read"))
    def secret() -> str:
        return "the figures"

    if with_authenticator:
        @authenticates_tokens(bp)
        def _authenticate(rule: object) -> None:
            calls.append(str(rule))

    app.register_blueprint(bp)
    return calls


def test_a_token_view_without_an_authenticator_is_refused(config: dict[str, object],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(config)
    _mount(app, "forgotten", with_authenticator=False)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/_forgotten/secret", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403 and b"the figures" not in response.data
    assert any("no token authenticator" in r.getMessage() for r in caplog.records)


def test_a_token_view_is_served_only_through_its_blueprints_authenticator(config: dict[str, object]) -> None:
    app = create_app(config)
    calls = _mount(app, "declared", with_authenticator=True)
    response = app.test_client().get("/_declared/secret")
    assert response.status_code == 200 and response.data == b"the figures"
    assert calls == [str(token("export:read"))]


@pytest.mark.parametrize(("path", "realm"), [("/api/v1/me", "covidmeter-me"), ("/api/v1/incidence.json", "covidmeter")])
def test_both_apis_answer_401_alike(service: Flask, path: str, realm: str) -> None:
    response = service.test_client().get(path)  # the whole service: the dashboard's export API too
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.json["title"] == "Unauthorized" and response.json["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith(f'Bearer realm="{realm}"')


def test_a_new_blueprints_view_without_a_rule_is_refused_whatever_its_hooks_do(
        config: dict[str, object], caplog: pytest.LogCaptureFixture) -> None:
    """authz.enforce runs before a blueprint's own hooks (``before_request`` and ``before_app_request`` alike),
    so a blueprint cannot answer a request that no rule lets through."""
    app = create_app(config)
    bp = Blueprint("careless", __name__, url_prefix="/_careless")

    @bp.get("/figures")
    def figures() -> str:
        return "the figures"

    @bp.before_request
    def own_hook() -> str:
        return "the figures, from the blueprint's hook"

    @bp.before_app_request
    def app_hook() -> str | None:
        return "the figures, from an app-wide hook" if request.path.startswith("/_careless") else None

    app.register_blueprint(bp)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/_careless/figures")
    assert response.status_code == 403 and b"the figures" not in response.data
    assert any("careless.figures has no access rule" in r.getMessage() for r in caplog.records)
