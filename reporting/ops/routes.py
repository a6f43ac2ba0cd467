"""Health endpoints for operators and load balancers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..authz import PUBLIC, access
from ..extensions import csrf, db, limiter
from ..migrate import current_revision, head_revision

bp = Blueprint("ops", __name__)
csrf.exempt(bp)
limiter.exempt(bp)


@bp.get("/healthz")
@access(PUBLIC)
def healthz() -> Any:
    """The process is up. Says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
@access(PUBLIC)
def readyz() -> Any:
    """Ready for traffic: the database answers and its schema is at the migration head."""
    try:
        db.session.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:  # any driver error means "not ready"; the detail stays in the log
        from flask import current_app

        current_app.logger.warning("readiness check failed: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    head = head_revision(db.engine.url.render_as_string(hide_password=False))
    if revision != head:
        return jsonify(status="unavailable", database="reachable", schema=revision, expected=head,
                       detail="run: covidmeter db upgrade"), 503
    return jsonify(status="ok", database="reachable", schema=revision)
