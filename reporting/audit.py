"""Two event logs. Health answers never go in either.

- ``record``: the append-only audit log (``audit_log``; database triggers refuse UPDATE and DELETE) of what
  staff, API tokens and the system do. It never holds a citizen's events or ids: ``record`` refuses an
  account as target, and a citizen doing something public (open data) is recorded as anonymous.
- ``citizen``: a citizen's own events (``citizen_events``), kept while the account exists (shown in the
  person's data export) and deleted with it, so nothing of them outlives a withdrawal; what remains of a
  withdrawal is the ``withdrawals`` row alone (docs/architecture.md, "Security decisions").
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent, CitizenEvent
from .security import Principal, current_principal

CITIZEN_KINDS = frozenset({"citizen", "weekly_link"})


class CitizenEventInAuditLog(ValueError):
    """A citizen's event was given to the append-only log, which must not keep it."""


def record(action: str, target: str | None = None, principal: Principal | None = None,
           **detail: Any) -> None:
    """Add an audit event to the current transaction (the caller commits)."""
    if principal is None:
        principal = current_principal() if has_request_context() else Principal("system")
    if (target or "").startswith("account:"):
        raise CitizenEventInAuditLog(f"{action}: a citizen's event goes to reporting.audit.citizen")
    if principal.kind in CITIZEN_KINDS:  # e.g. open data fetched by a logged-in citizen: no account id here
        principal = Principal("anonymous")
    kind = "system" if principal.kind == "anonymous" and not has_request_context() else principal.kind
    db.session.add(AuditEvent(
        actor_kind=kind,
        actor_id=principal.actor_id,
        action=action,
        target=target,
        detail=detail,
        remote_addr=request.remote_addr if has_request_context() else None,
    ))


def citizen(account_id: int, action: str, principal: Principal | None = None, **detail: Any) -> None:
    """Add an event to the account's own log in the current transaction (the caller commits)."""
    if principal is None:
        principal = current_principal() if has_request_context() else Principal("system")
    db.session.add(CitizenEvent(
        account_id=account_id,
        actor_kind=principal.kind if has_request_context() or principal.kind != "anonymous" else "system",
        action=action,
        detail=detail,
        remote_addr=request.remote_addr if has_request_context() else None,
    ))
