"""Who may call what: one ``before_request`` hook, ``enforce``, decides every request of the app by the rule
each view declares with ``@access(...)``. It is registered before any blueprint, so it runs before every
blueprint's own hooks (a blueprint's ``before_request`` and ``before_app_request`` alike).

Deny by default: a request to an endpoint without a rule is refused (403, logged), and
``endpoints_without_rule`` lists such endpoints for the test that there are none. URL prefixes served by
something other than a Flask view (the dashboard's Dash app) are declared with ``protect_prefix``; unknown
routes (404) and static files pass. Record-level checks (does this profile belong to this account?) are done in
the services.

Rules:
- ``public``: anyone.
- ``citizen``: a logged-in citizen (full login, not a weekly link); others are sent to the citizen login, a
  signed-in staff user gets 403.
- ``staff(*roles)``: a signed-in staff user whose role is listed (another role: 403). Anyone else is sent to the
  staff sign-in, or answered 401 when the request is a machine's (not a GET, or under a prefix answered with
  problem documents, ``reporting.problems.wants_json``).
- ``token(scope)``: a bearer token carrying that scope. Each API blueprint parses its own kind of bearer (the
  citizen API's sessions, the dashboard's export API tokens) and names the function that does with
  ``@authenticates_tokens(bp)``; ``enforce`` calls it for the blueprint's token views. A token view in a
  blueprint that names none is refused (403, logged), so a new blueprint cannot be open by forgetting a hook.
  Both APIs answer 401 with one problem type, ``Unauthorized`` (title "Unauthorized", a Bearer challenge of the
  API's realm, RFC 6750), and a token without the scope with ``InsufficientScope`` (403).

``safe_next`` keeps the redirect after a login on this site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for

from .models import STAFF_ROLES
from .problems import ProblemError, wants_json
from .security import current_principal

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    kind: str  # public | citizen | staff | token
    roles: frozenset[str] = frozenset()
    scope: str | None = None


PUBLIC = Rule("public")
CITIZEN = Rule("citizen")


def staff(*roles: str) -> Rule:
    unknown = set(roles) - set(STAFF_ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown or missing staff roles: {sorted(unknown) or 'none given'}")
    return Rule("staff", frozenset(roles))


def token(scope: str) -> Rule:
    return Rule("token", scope=scope)


def access(rule: Rule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return decorate


_AUTHENTICATORS = "covidmeter.token_authenticators"


def authenticates_tokens(bp: Blueprint) -> Callable[[F], F]:
    """Name the function that authenticates the bearer of ``bp``'s ``token(...)`` views: called by ``enforce``
    with the view's rule, it sets the request's principal or raises ``Unauthorized``/``InsufficientScope``."""
    def decorate(authenticate: F) -> F:
        bp.record_once(lambda state: state.app.extensions.setdefault(_AUTHENTICATORS, {}).__setitem__(
            bp.name, authenticate))
        return authenticate

    return decorate


class Unauthorized(ProblemError):
    """401: no bearer, or one that is unknown, expired or revoked; with the challenge of ``realm``."""

    def __init__(self, detail: str, realm: str, error: str | None = None) -> None:
        challenge = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
        super().__init__(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


class InsufficientScope(ProblemError):
    def __init__(self, scope: str, realm: str) -> None:
        super().__init__(403, "Forbidden", f"This token lacks the scope {scope!r}.", headers={
            "WWW-Authenticate": f'Bearer realm="{realm}", error="insufficient_scope", scope="{scope}"'})


def protect_prefix(app: Flask, prefix: str, rule: Rule) -> None:
    app.extensions.setdefault("covidmeter.protected_prefixes", []).append((prefix, rule))


def rule_for_request(app: Flask) -> Rule | None:
    for prefix, rule in app.extensions.get("covidmeter.protected_prefixes", []):
        if request.path.startswith(prefix):
            return rule
    if request.endpoint is None:
        return PUBLIC  # no such route: let the 404 through
    if request.endpoint == "static" or request.endpoint.endswith(".static"):
        return PUBLIC
    view = app.view_functions.get(request.endpoint)
    return getattr(view, "access_rule", None)


def enforce() -> Any:
    """The before_request hook."""
    rule = rule_for_request(current_app)
    if rule is None:
        current_app.logger.error("endpoint %s has no access rule; refusing", request.endpoint)
        abort(403)
    if rule.kind == "public":
        return None
    if rule.kind == "token":
        authenticate = current_app.extensions.get(_AUTHENTICATORS, {}).get(request.blueprint or "")
        if authenticate is None:
            current_app.logger.error("endpoint %s needs a token, but its blueprint %s names no token authenticator; "
                                     "refusing", request.endpoint, request.blueprint)
            abort(403)
        authenticate(rule)
        return None
    principal = current_principal()
    if rule.kind == "citizen":
        if principal.is_citizen:
            return None
        if principal.is_staff:
            abort(403)
        return redirect(url_for("citizen.login", next=_next_target()))
    if rule.kind == "staff":
        if principal.is_staff:
            if principal.role in rule.roles:
                return None
            abort(403)
        if request.method != "GET" or wants_json():  # a machine's request: 401, not a login page
            abort(401)
        return redirect(url_for("staff.login", next=_next_target()))
    abort(403)


def _next_target() -> str:
    return quote(request.full_path.rstrip("?"), safe="/?=&-_.")


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def endpoints_without_rule(app: Flask) -> list[str]:
    """For the test that every route declares who may call it."""
    missing = []
    for endpoint, view in app.view_functions.items():
        if endpoint == "static" or endpoint.endswith(".static"):
            continue
        if getattr(view, "access_rule", None) is None and not _covered_by_prefix(app, endpoint):
            missing.append(endpoint)
    return sorted(missing)


def _covered_by_prefix(app: Flask, endpoint: str) -> bool:
    prefixes = [p for p, _ in app.extensions.get("covidmeter.protected_prefixes", [])]
    for url_rule in app.url_map.iter_rules(endpoint):
        if any(url_rule.rule.startswith(p) for p in prefixes):
            return True
    return False
