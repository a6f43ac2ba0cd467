"""Errors: JSON problem details (RFC 9457) for the API, a translated page for people.

No stack trace ever reaches a user: unexpected errors are logged with a reference id, and the user sees
the id and a plain sentence.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .db import RETRY_AFTER_SECONDS, unavailable
from .logredact import redact

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/",)
_JSON_PREFIXES = "covidmeter.json_prefixes"


def answer_json_under(app: Flask, prefix: str) -> None:
    """Errors under ``prefix`` are answered as problem documents, like the API's (a mounted app's machine
    endpoints, such as the dashboard's Dash callbacks), not as pages."""
    app.extensions.setdefault(_JSON_PREFIXES, []).append(prefix)


def wants_json() -> bool:
    """Whether this request is a machine's (the API, or a prefix declared with ``answer_json_under``)."""
    path = request.path
    declared = current_app.extensions.get(_JSON_PREFIXES, ())
    return path.startswith(API_PREFIXES) or any(path.startswith(prefix) for prefix in declared)


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


class ProblemError(Exception):
    """Raise from API code to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def _problem(error: ProblemError) -> Response:
        response = problem(error.status, error.title, error.detail, **error.extra)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        if wants_json():
            return problem(400, "CSRF token missing or invalid", "Reload the page and try again.")
        return render_template("error.html", status=400,
                               message=_("Your form expired. Please go back, reload the page and try again.")), 400

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded) -> Any:
        if wants_json():
            return problem(429, "Too many requests", f"Rate limit exceeded: {error.description}")
        return render_template("error.html", status=429,
                               message=_("Too many attempts. Please wait a little and try again.")), 429

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        status = error.code or 500
        if wants_json():
            response = problem(status, error.name, error.description)
        else:
            messages = {
                404: _("We could not find that page."),
                403: _("You do not have access to this page."),
                405: _("That action is not possible here."),
                413: _("What you sent was too large."),
            }
            response = app.make_response((render_template("error.html", status=status,
                                                          message=messages.get(status, error.name)), status))
        # The headers the error itself carries (Allow on a 405, as RFC 9110 asks), but not its content type.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if unavailable(error):
            return _unavailable(error)
        reference = secrets.token_hex(4)
        log.exception("unhandled error %s on %s %s", reference, request.method, redact(request.path))
        if wants_json():
            return problem(500, "Internal server error", "An unexpected error occurred.", reference=reference)
        return render_template("error.html", status=500, reference=reference,
                               message=_("Something went wrong on our side. Please try again in a moment.")), 500

    def _unavailable(error: Exception) -> Any:
        # The database is away (restarting, refusing, out of connections) or the work lost a race that passes;
        # the transaction was rolled back and nothing was stored, so the same request can simply be sent again
        # (a report's submission id makes a repeated POST harmless). One line in the log, no traceback: an
        # outage makes many of these, and /readyz already tells the load balancer.
        cause = getattr(error, "orig", None) or error
        log.warning("database unavailable on %s %s: %s: %s", request.method, redact(request.path),
                    type(cause).__name__, redact(str(cause).splitlines()[0] if str(cause) else ""))
        if wants_json():
            response = problem(503, "Service Unavailable",
                               "The service cannot reach its database just now. Nothing was stored; "
                               f"please send the same request again in {RETRY_AFTER_SECONDS} seconds.")
        else:
            response = app.make_response((render_template(
                "error.html", status=503, message=_("The service is unavailable for a moment."),
                detail=_("Nothing was saved. Please try again in a few seconds.")), 503))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
