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

from .config import load_config


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
    from .logredact import install

    install()  # no secret of a URL in the development server's (or gunicorn's) request log
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
    for warning in app.config.get("COVIDMETER_WARNINGS", []):
        app.logger.warning(warning)


def register_extensions(app: Flask) -> None:
    from .extensions import csrf, db, limiter

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)


def register_security(app: Flask) -> None:
    from . import authz, headers
    from .security import CookieSessionInterface

    app.session_interface = CookieSessionInterface()
    app.before_request(authz.enforce)
    headers.init_app(app)
    proxies = app.config["COVIDMETER_TRUSTED_PROXIES"]
    if proxies:
        # Behind a TLS-terminating proxy: the client's address (rate limits, session records), scheme
        # (request.is_secure, CSRF's referrer check on HTTPS, external URLs) and host come from the
        # X-Forwarded-* headers that the last ``proxies`` hops set; anything further left is the client's own
        # claim and ignored (Werkzeug's ProxyFix).
        from werkzeug.middleware.proxy_fix import ProxyFix

        fixed = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
        app.wsgi_app = fixed  # type: ignore[method-assign]


def register_i18n(app: Flask) -> None:
    from . import i18n

    i18n.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .citizen.routes import bp as citizen_bp
    from .citizen_api.routes import bp as citizen_api_bp
    from .dev.routes import bp as dev_bp
    from .ops.routes import bp as ops_bp
    from .staff.routes import bp as staff_bp

    app.register_blueprint(ops_bp)
    app.register_blueprint(citizen_bp)
    app.register_blueprint(citizen_api_bp)
    app.register_blueprint(staff_bp)
    from .admin.routes import init_app as init_admin

    init_admin(app)  # staff users, sessions, API tokens, audit log (issue 5)
    if app.config["COVIDMETER_DEV_OUTBOX"]:
        app.register_blueprint(dev_bp)


def register_errors(app: Flask) -> None:
    from .problems import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
