"""Rate limits of the citizen API, counted once per request with Flask-Limiter's public API.

Every view of the API declares its limit with ``@limited("60/minute", key=...)``. The blueprint's
``before_request`` hook, ``count``, runs after ``authz.enforce`` has authenticated the request (so a request
with a bad token is a 401, not a hit; a view that authenticates its session in its own statement, the weekly
report, is counted first, under the presented token's own key). It hits the limit with Flask-Limiter's rate
limiter (``limiter.limiter``, in the storage Flask-Limiter is configured with: Redis when
``COVIDMETER_REDIS_URL`` is set, so every web process counts in the same place; else process memory), under
the key Flask-Limiter's ``@limiter.limit`` uses (its key prefix, who is counted, the endpoint). A spent limit
is a 429 problem document. Every counted answer carries the headers of Flask-Limiter's ``RequestLimit`` for it
(``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``; ``Retry-After`` on a refused one only). The strategy is
Flask-Limiter's default, the fixed window (a window opens with its first hit and lasts one period, so every hit
of a window gives the same reset); the app refuses to start with another one configured.

Why not ``@limiter.limit`` on these views: Flask-Limiter's own after-request hook, which cannot be switched off
for one blueprint, puts ``Retry-After`` on every counted answer, raises a 503's short one to the end of the rate
window (issue 12: an outage recovers in a second or two) and would put limit headers on the weekly report's
401; and for a decorated view it resolves and evaluates the limits twice (in its ``before_request`` hook and in
the decorator), about a quarter of the weekly report's CPU (docs/performance.md). So Flask-Limiter's hooks pass
this blueprint by (``routes._counted_by_the_api``), and this module counts with its limiter and describes the
window with its ``RequestLimit``. The rest of the app keeps the decorators; ``RATELIMIT_ENABLED`` switches both
off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_limiter import RequestLimit
from limits import RateLimitItem, parse

from ..config import ConfigurationError
from ..extensions import limiter
from ..problems import ProblemError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    item: RateLimitItem
    key: Callable[[], str]  # who is counted: the bearer session, or the client's address


def limited(value: str, *, key: Callable[[], str]) -> Callable[[F], F]:
    """Declare a view's rate limit, as a Flask-Limiter limit string such as "60/minute"."""
    limit = Limit(parse(value), key)

    def decorate(view: F) -> F:
        view.api_rate_limit = limit  # type: ignore[attr-defined]
        return view

    return decorate


def limit_of(view: Callable[..., Any] | None) -> Limit | None:
    return getattr(view, "api_rate_limit", None)


def check_configuration(app: Flask) -> None:
    """Refuse to start with a Flask-Limiter strategy other than the fixed window, the API's contract (one reset
    for every hit of a window; a moving window also keeps other data under the same keys)."""
    strategy = app.config.get("RATELIMIT_STRATEGY", "fixed-window")
    if strategy != "fixed-window":
        raise ConfigurationError(f"RATELIMIT_STRATEGY={strategy!r}: the citizen API counts its rate limits with "
                                 "the fixed window only; leave RATELIMIT_STRATEGY unset")


class RateLimited(ProblemError):
    def __init__(self, item: RateLimitItem) -> None:
        # The detail reporting.problems gives for Flask-Limiter's RateLimitExceeded.
        super().__init__(429, "Too many requests", f"Rate limit exceeded: {item}")


def count(limit: Limit) -> None:
    """Count this request against ``limit``; ``RateLimited`` when the window's allowance is spent."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return
    prefix = config.get("RATELIMIT_KEY_PREFIX")
    identifiers = [prefix, limit.key(), request.endpoint or ""] if prefix else [limit.key(), request.endpoint or ""]
    allowed = limiter.limiter.hit(limit.item, *identifiers)
    g.api_rate_limit = RequestLimit(limiter, limit.item, identifiers, breached=not allowed, shared=False)
    if not allowed:
        log.info("ratelimit %s (%s) exceeded at endpoint: %s", limit.item, identifiers[-2], identifiers[-1])
        raise RateLimited(limit.item)


def add_headers(response: Response) -> Response:
    """The rate-limit headers of the limit this request was counted against, if any."""
    counted: RequestLimit | None = g.pop("api_rate_limit", None)
    if counted is None or response.status_code == 401 or not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        # A view that authenticates its session itself is counted first (under the presented token's own
        # key, so an unknown token spends no real session's allowance); its 401 says nothing of limits.
        return response
    reset_at = counted.reset_at
    response.headers.extend([("X-RateLimit-Limit", str(counted.limit.amount)),
                             ("X-RateLimit-Remaining", str(counted.remaining)),
                             ("X-RateLimit-Reset", str(reset_at))])
    # Retry-After only where it asks the client to wait, a refused request (RFC 9110: 429, 503), and never over a
    # 503's own short one (an outage recovers in a second or two, not when the rate window ends: issue 12).
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers.set("Retry-After", str(max(1, int(reset_at - time.time()))))
    return response
