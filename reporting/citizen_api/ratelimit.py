"""Rate limits of the citizen API: each request is counted once, in Flask-Limiter's storage.

Every view of the API declares its limit with ``@limited("60/minute", key=...)``. The blueprint's
``before_request`` hook (after authentication, so a request with a bad token is a 401, not a hit; a view
that authenticates its session in its own statement, the weekly report, is counted first, under the
presented token's key) calls ``count``: one increment in the storage Flask-Limiter is configured with (Redis when
``COVIDMETER_REDIS_URL`` is set, so every web process counts in the same place; else process memory), with
its key prefix, under the key Flask-Limiter's ``@limiter.limit`` uses, and with the arithmetic of its
default strategy, the fixed window (a window opens with its first hit and lasts one period; a hit past the
limit is refused; the app refuses to start with another strategy configured). A spent limit is a 429
problem document, and every counted response carries Flask-Limiter's headers (``X-RateLimit-Limit``, ``-Remaining``
and ``-Reset``; ``Retry-After`` on a refused one only).

Why not ``@limiter.limit`` here: for one decorated view Flask-Limiter resolves and evaluates limits twice
(in its ``before_request`` hook and in the decorator) and reads the window back from the storage for the
headers (two more Redis commands). On the API's busiest call, the weekly report, that came to about a
quarter of the request's CPU (docs/performance.md). Here the increment's answer gives the remaining count,
and the window's end is asked for only when this hit did not open it. Flask-Limiter's own hooks pass this
blueprint by (``routes._counted_by_the_api``); the rest of the app keeps its decorators, and
``RATELIMIT_ENABLED`` switches both off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
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


@dataclass(frozen=True)
class Counted:
    limit: Limit
    remaining: int
    reset: float  # when the window ends (seconds since the epoch)


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
    """Refuse to start with a Flask-Limiter strategy other than the fixed window, which ``count`` implements
    (a moving window keeps other data under the same keys)."""
    strategy = app.config.get("RATELIMIT_STRATEGY", "fixed-window")
    if strategy != "fixed-window":
        raise ConfigurationError(f"RATELIMIT_STRATEGY={strategy!r}: the citizen API counts its rate limits with "
                                 "the fixed window only; leave RATELIMIT_STRATEGY unset")


class RateLimited(ProblemError):
    def __init__(self, limit: Limit) -> None:
        # The detail reporting.problems gives for Flask-Limiter's RateLimitExceeded.
        super().__init__(429, "Too many requests", f"Rate limit exceeded: {limit.item}")


def count(limit: Limit) -> None:
    """Count this request against ``limit``; ``RateLimited`` when the window's allowance is spent."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return
    prefix = config.get("RATELIMIT_KEY_PREFIX")
    identifiers = (prefix, limit.key(), request.endpoint) if prefix else (limit.key(), request.endpoint)
    key, period = limit.item.key_for(*identifiers), limit.item.get_expiry()
    hits = limiter.storage.incr(key, period)
    # The storage starts a window's clock at its first hit, so a first hit knows when the window ends.
    reset = time.time() + period if hits == 1 else limiter.storage.get_expiry(key)
    g.api_rate_limit = Counted(limit, max(0, limit.item.amount - hits), reset)
    if hits > limit.item.amount:
        log.info("ratelimit %s (%s) exceeded at endpoint: %s", limit.item, identifiers[-2], identifiers[-1])
        raise RateLimited(limit)


def add_headers(response: Response) -> Response:
    """Flask-Limiter's rate-limit headers for the limit this request was counted against, if any."""
    counted: Counted | None = g.pop("api_rate_limit", None)
    if counted is None or response.status_code == 401 or not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        # A view that authenticates its session itself is counted first (under the presented token's own
        # key, so an unknown token spends no real session's allowance); its 401 says nothing of limits.
        return response
    reset_at = int(counted.reset + 1)
    response.headers.extend([("X-RateLimit-Limit", str(counted.limit.item.amount)),
                             ("X-RateLimit-Remaining", str(counted.remaining)),
                             ("X-RateLimit-Reset", str(reset_at))])
    # Retry-After only where it asks the client to wait, a refused request (RFC 9110: 429, 503), and never over a
    # 503's own short one (an outage recovers in a second or two, not when the rate window ends: issue 12).
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers.set("Retry-After", str(max(1, int(reset_at - time.time()))))
    return response
