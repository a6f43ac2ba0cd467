"""Read queries for the administration pages (views stay thin)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from ..extensions import db
from ..models import ApiToken, AuditEvent, StaffUser, UserSession, utcnow

AUDIT_PAGE_SIZE = 50


@dataclass(frozen=True)
class StaffRow:
    user: StaffUser
    active_sessions: int


def staff_overview() -> list[StaffRow]:
    now = utcnow()
    counts = (select(UserSession.staff_user_id, func.count().label("n"))
              .where(UserSession.staff_user_id.is_not(None), UserSession.revoked_at.is_(None),
                     UserSession.expires_at > now)
              .group_by(UserSession.staff_user_id).subquery())
    rows = db.session.execute(select(StaffUser, func.coalesce(counts.c.n, 0))
                              .outerjoin(counts, counts.c.staff_user_id == StaffUser.id)
                              .order_by(StaffUser.email))
    return [StaffRow(user, int(n)) for user, n in rows]


def tokens_for(owner_id: int | None) -> list[ApiToken]:
    """Every token (``owner_id`` None, for admins) or the tokens one staff user created."""
    statement = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
    if owner_id is not None:
        statement = statement.where(ApiToken.staff_user_id == owner_id)
    return list(db.session.scalars(statement))


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # a prefix: 'staff.login' matches 'staff.login' and 'staff.login.failed'
    actor_kind: str | None = None
    actor_id: str | None = None
    before_id: int | None = None  # keyset pagination: events older than this id


def _audit_select(where: AuditFilter) -> Select[tuple[AuditEvent]]:
    statement = select(AuditEvent)
    if where.action:
        statement = statement.where(AuditEvent.action.startswith(where.action, autoescape=True))
    if where.actor_kind:
        statement = statement.where(AuditEvent.actor_kind == where.actor_kind)
    if where.actor_id:
        statement = statement.where(AuditEvent.actor_id == where.actor_id)
    if where.before_id is not None:
        statement = statement.where(AuditEvent.id < where.before_id)
    return statement


def audit_page(where: AuditFilter, size: int = AUDIT_PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    """Newest first; returns the events and the ``before_id`` of the next (older) page, if any."""
    events = list(db.session.scalars(_audit_select(where).order_by(AuditEvent.id.desc()).limit(size + 1)))
    more = len(events) > size
    events = events[:size]
    return events, (events[-1].id if more and events else None)


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))

