"""Secrets never reach a log line.

Login, sign-up and e-mail change links, weekly links and unsubscribe links carry their secret in the URL
path (they are opened from a mail, so the path is where it must be), and a few pages carry a profile's
pseudonym there. Every log line that shows a URL goes through ``redact``: the access log of gunicorn
(``reporting.gunicorn_logger``, named in ``gunicorn.conf.py``), the development server's request log
(werkzeug's logger, filtered by ``install``) and the app's own messages about a request's path
(``reporting.problems``).

What is replaced by ``[redacted]``: the path segment after a route that carries a secret, and any run of 32
or more URL-safe characters anywhere (a token, a signed value, a pseudonym), which no route of ours spells
otherwise.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# The routes whose next path segment is a secret (reporting/citizen/routes.py, self_service.py, weekly.py).
SECRET_ROUTES = ("signup/confirm", "login/link", "me/email/confirm", "week", "unsubscribe")
_ROUTE = re.compile(r"(/(?:" + "|".join(re.escape(r) for r in SECRET_ROUTES) + r")/)[^/?#\s\"']+")
_LONG = re.compile(r"[A-Za-z0-9_\-]{32,}(?:\.[A-Za-z0-9_\-]+)*")


def redact(text: str) -> str:
    """``text`` with every secret-carrying URL part replaced."""
    if not text:
        return text
    return _LONG.sub(REDACTED, _ROUTE.sub(lambda m: m.group(1) + REDACTED, text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with the secrets of any URL in it replaced (the record then carries the
    finished message and no arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a malformed record is logging's own problem to report)
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install(logger_names: tuple[str, ...] = ("werkzeug", "gunicorn.access", "gunicorn.error")) -> None:
    """Filter the named loggers (idempotent): werkzeug's request log of the development server, and
    gunicorn's loggers also when it is not started with our logger class."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
