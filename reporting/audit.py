"""The append-only audit log. Health answers never go here."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent
from .security import Principal, current_principal


def record(action: str, target: str | None = None, principal: Principal | None = None,
           **detail: Any) -> None:
    """Add an audit event to the current transaction (the caller commits)."""
    if principal is None:
        principal = current_principal() if has_request_context() else Principal("system")
    kind = "system" if principal.kind == "anonymous" and not has_request_context() else principal.kind
    db.session.add(AuditEvent(
        actor_kind=kind,
        actor_id=principal.actor_id,
        action=action,
        target=target,
        detail=detail,
        remote_addr=request.remote_addr if has_request_context() else None,
    ))
