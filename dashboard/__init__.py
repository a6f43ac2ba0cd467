"""dashboard: what staff see. The Dash app at /dashboard/ and the aggregate export API under /api/v1/.
Imports ``reporting`` and ``scheduler``; reads aggregates only, never recomputes epidemiology."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .api import bp as api_bp
    from .app import init_dash

    app.register_blueprint(api_bp)
    init_dash(app)
