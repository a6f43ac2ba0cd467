"""reporting: the write side. Schema, configuration, the Flask app factory, authentication and roles,
the questionnaire engine, the citizen pages and API, the mail outbox.

This package knows nothing of ``scheduler`` or ``dashboard``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from . import authz, headers, i18n
from .admin.routes import init_app as init_admin
from .citizen import bp as citizen_bp
from .citizen_api.routes import bp as citizen_api_bp
from .cli import register as register_cli
from .config import load_config
from .dev.routes import bp as dev_bp
from .extensions import csrf, db, limiter
from .logredact import install as install_log_redaction
from .ops.routes import bp as ops_bp
from .problems import register_error_handlers
from .security import CookieSessionInterface
from .staff.routes import bp as staff_bp


class BoundedJSONProvider(DefaultJSONProvider):
    """JSON bodies nested deeper than Python's recursion limit (a 2 KB body of 1,000 brackets) are malformed
    JSON like any other: ``request.get_json(silent=True)`` gives None and the endpoint answers 400, instead of a
    RecursionError escaping as a 500 (issue 12)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the reporting app. ``wsgi.create_app`` composes it with the scheduler and the dashboard."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = BoundedJSONProvider(app)
    app.config.update(load_config(app.instance_path, test_config))
    register_logging(app)
    register_extensions(app)
    register_security(app)
    register_i18n(app)
    register_blueprints(app)
    register_errors(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    install_log_redaction()  # no secret of a URL in the development server's (or gunicorn's) request log
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
    for warning in app.config.get("COVIDMETER_WARNINGS", []):
        app.logger.warning(warning)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)


def register_security(app: Flask) -> None:
    app.session_interface = CookieSessionInterface()
    app.before_request(authz.enforce)
    headers.init_app(app)
    proxies = app.config["COVIDMETER_TRUSTED_PROXIES"]
    if proxies:
        # Behind a TLS-terminating proxy: the client's address (rate limits, session records), scheme
        # (request.is_secure, CSRF's referrer check on HTTPS, external URLs) and host come from the
        # X-Forwarded-* headers that the last ``proxies`` hops set; anything further left is the client's own
        # claim and ignored (Werkzeug's ProxyFix).
        fixed = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
        app.wsgi_app = fixed  # type: ignore[method-assign]


def register_i18n(app: Flask) -> None:
    i18n.init_app(app)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(ops_bp)
    app.register_blueprint(citizen_bp)
    app.register_blueprint(citizen_api_bp)
    app.register_blueprint(staff_bp)
    init_admin(app)  # staff users, sessions, API tokens, audit log (issue 5)
    if app.config["COVIDMETER_DEV_OUTBOX"]:
        app.register_blueprint(dev_bp)


def register_errors(app: Flask) -> None:
    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    register_cli(app)
