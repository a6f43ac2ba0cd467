"""Development only (never registered in production): the outbox, so someone trying the demo without
SMTP can follow the links that were 'mailed' to them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from ..authz import PUBLIC, access
from ..extensions import db
from ..models import OutboxMessage

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/outbox")
@access(PUBLIC)
def outbox() -> Any:
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(50)).all()
    return render_template("dev/outbox.html", messages=messages)
