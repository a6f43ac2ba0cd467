"""dashboard: what staff see, over the published aggregates only (it never recomputes epidemiology).

- app: the Dash app at /dashboard/ (staff roles), mounted with what it needs of the write side declared
  when it is mounted: its prefix rule (authz.protect_prefix), no-store answers and its CSRF cookie
  (headers.mount_spa), problem documents for Dash's own routes (problems.answer_json_under);
- api, export, openapi: the aggregate export API under /api/v1/ (tokens, audit, disclosure-controlled);
- queries, figures, cache: read-only queries, the Plotly figures, the figure cache keyed by the aggregates'
  version; i18n: the dashboard's own translation domain.

Imports ``reporting`` and ``scheduler``; nothing imports it but ``wsgi``."""

from __future__ import annotations

from dash.exceptions import DashException, DependencyException
from flask import Flask, request

from reporting.problems import problem

from .api import bp as api_bp
from .app import init_dash


def init_app(app: Flask) -> None:
    app.register_blueprint(api_bp)
    init_dash(app)
    _register_dash_errors(app)


def _register_dash_errors(app: Flask) -> None:
    """Malformed requests to Dash's own routes are the caller's error (4xx), not ours (500)."""

    @app.errorhandler(DependencyException)
    def _unknown_dependency(error: DependencyException) -> object:
        return problem(404, "Not Found", "No such Dash resource.")

    @app.errorhandler(DashException)
    def _bad_dash_request(error: DashException) -> object:
        return problem(400, "Bad Request", "The dashboard could not read this request.")

    @app.before_request
    def _callback_body_is_well_formed() -> object:
        """A callback POST must carry what Dash's renderer sends; anything else is a 400, not a KeyError."""
        if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
            return None
        body = request.get_json(silent=True)
        if (not isinstance(body, dict) or not isinstance(body.get("output"), str)
                or not isinstance(body.get("inputs", []), list) or not isinstance(body.get("state", []), list)
                or not isinstance(body.get("changedPropIds", []), list) or "outputs" not in body):
            return problem(400, "Bad Request", "Not a Dash callback request.")
        app_dash = app.extensions.get("covidmeter.dash")
        if app_dash is not None and body["output"] not in app_dash.callback_map:
            return problem(400, "Bad Request", "No such callback.")
        return None
