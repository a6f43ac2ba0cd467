"""gunicorn's logger with the secrets of URLs redacted (``reporting.logredact``): every atom of the access
log line that can hold a URL (the request line, path, query, referer, and the request headers and environ
values a custom format may show), and the error log's messages (``Error handling request /login/link/...``).

Used by ``gunicorn.conf.py`` (``logger_class``), which gunicorn reads from the working directory; give it as
``--logger-class reporting.gunicorn_logger.RedactingLogger`` where another configuration is used.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .logredact import RedactingFilter, redact


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
