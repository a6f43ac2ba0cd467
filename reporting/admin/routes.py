"""Administration pages.

- ``/admin/staff``: staff users (create with a generated password shown once, disable/enable, reset the
  second factor), and per user the active sessions, which an admin can revoke one by one or all at once.
- ``/admin/audit``: the audit log, newest first, filtered by action and actor. It is read-only here and in
  the database (triggers refuse UPDATE and DELETE).
- ``/staff/tokens``: API tokens. Authorities manage the tokens they created; admins see and revoke all.

Every change is audited with the acting staff user.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from ..audit import record
from ..authz import access, staff
from ..extensions import db
from ..models import STAFF_ROLES, ApiToken, StaffUser
from ..security import current_principal
from ..staff.routes import register_staff_link
from ..staff.service import (TOKEN_SCOPES, StaffError, active_sessions, create_api_token, create_staff_user, reset_totp,
                             revoke_api_token_by_id, revoke_sessions, set_disabled)
from . import queries

bp = Blueprint("admin", __name__, url_prefix="/admin")
tokens_bp = Blueprint("tokens", __name__, url_prefix="/staff/tokens")

ADMIN = staff("admin")
TOKEN_MANAGERS = staff("authority", "admin")
TOKEN_DAYS = (30, 90, 180, 365)


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(tokens_bp)
    register_staff_link(app, lazy_gettext("API tokens"), "/staff/tokens/", roles=("authority", "admin"))
    register_staff_link(app, lazy_gettext("Staff users and sessions"), "/admin/staff", roles=("admin",))
    register_staff_link(app, lazy_gettext("Audit log"), "/admin/audit", roles=("admin",))


def _staff_user(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/staff")
@access(ADMIN)
def staff_list() -> Any:
    return render_template("admin/staff.html", rows=queries.staff_overview(), roles=STAFF_ROLES, created=None)


@bp.post("/staff")
@access(ADMIN)
def staff_create() -> Any:
    email = request.form.get("email", "")
    role = request.form.get("role", "")
    try:
        user, password = create_staff_user(email, role, principal=current_principal())
    except StaffError as exc:
        flash(str(exc), "error")
        return render_template("admin/staff.html", rows=queries.staff_overview(), roles=STAFF_ROLES,
                               created=None, email=email, role=role), 422
    return render_template("admin/staff.html", rows=queries.staff_overview(), roles=STAFF_ROLES,
                           created={"email": user.email, "role": user.role, "password": password})


@bp.get("/staff/<int:user_id>")
@access(ADMIN)
def staff_detail(user_id: int) -> Any:
    user = _staff_user(user_id)
    return render_template("admin/staff_detail.html", user=user, sessions=active_sessions(user),
                           myself=user.id == current_principal().staff_user_id)


@bp.post("/staff/<int:user_id>/sessions/revoke")
@access(ADMIN)
def sessions_revoke(user_id: int) -> Any:
    user = _staff_user(user_id)
    raw = request.form.get("session_id", "")
    session_id = int(raw) if raw.isdigit() else None
    count = revoke_sessions(user, session_id)
    record("staff.sessions.revoke", f"staff:{user.id}", sessions=count, session_id=session_id)
    db.session.commit()
    flash(_("%(count)s session(s) ended.", count=count), "info")
    return redirect(url_for("admin.staff_detail", user_id=user.id))


@bp.post("/staff/<int:user_id>/disable")
@access(ADMIN)
def staff_disable(user_id: int) -> Any:
    user = _staff_user(user_id)
    if user.id == current_principal().staff_user_id:
        flash(_("You cannot disable your own account."), "error")
    else:
        set_disabled(user, True, current_principal())
        flash(_("Account disabled and its sessions ended."), "info")
    return redirect(url_for("admin.staff_detail", user_id=user.id))


@bp.post("/staff/<int:user_id>/enable")
@access(ADMIN)
def staff_enable(user_id: int) -> Any:
    user = _staff_user(user_id)
    set_disabled(user, False, current_principal())
    flash(_("Account enabled."), "info")
    return redirect(url_for("admin.staff_detail", user_id=user.id))


@bp.post("/staff/<int:user_id>/reset-totp")
@access(ADMIN)
def staff_reset_totp(user_id: int) -> Any:
    user = _staff_user(user_id)
    reset_totp(user, current_principal())
    flash(_("Second factor reset: it is set up again at the next sign-in."), "info")
    return redirect(url_for("admin.staff_detail", user_id=user.id))


def _filter_value(name: str, length: int) -> str | None:
    """A filter from the query string: printable text only (PostgreSQL refuses NUL), bounded in length."""
    value = "".join(c for c in request.args.get(name, "") if c.isprintable()).strip()[:length]
    return value or None


@bp.get("/audit")
@access(ADMIN)
def audit() -> Any:
    before = request.args.get("before", "")
    where = queries.AuditFilter(
        action=_filter_value("action", 64),
        actor_kind=_filter_value("actor_kind", 16),
        actor_id=_filter_value("actor_id", 64),
        before_id=int(before) if before.isdigit() and len(before) < 18 else None)
    events, next_before = queries.audit_page(where)
    record("audit.read", None, filter={k: v for k, v in vars(where).items() if v is not None})
    db.session.commit()
    return render_template("admin/audit.html", events=events, where=where, next_before=next_before,
                           actions=queries.audit_actions())


# --- API tokens ------------------------------------------------------------------------------------------

def _owner_filter() -> int | None:
    principal = current_principal()
    return None if principal.role == "admin" else principal.staff_user_id


@tokens_bp.get("/")
@access(TOKEN_MANAGERS)
def token_list() -> Any:
    return render_template("admin/tokens.html", tokens=queries.tokens_for(_owner_filter()), issued=None,
                           days=TOKEN_DAYS, scopes=TOKEN_SCOPES)


@tokens_bp.post("/")
@access(TOKEN_MANAGERS)
def token_create() -> Any:
    principal = current_principal()
    owner = db.session.get(StaffUser, principal.staff_user_id)
    raw_days = request.form.get("days", "")
    days = int(raw_days) if raw_days.isdigit() and int(raw_days) in TOKEN_DAYS else None
    try:
        if days is None:
            raise StaffError(_("Choose how long the token is valid."))
        scopes = " ".join(scope for scope in TOKEN_SCOPES if request.form.get(f"scope-{scope}"))
        if not scopes:
            raise StaffError(_("Choose at least one scope."))
        issued = create_api_token(request.form.get("name", ""), scopes, days, owner=owner, principal=principal)
    except StaffError as exc:
        flash(str(exc), "error")
        return render_template("admin/tokens.html", tokens=queries.tokens_for(_owner_filter()), issued=None,
                               days=TOKEN_DAYS, scopes=TOKEN_SCOPES), 422
    return render_template("admin/tokens.html", tokens=queries.tokens_for(_owner_filter()), days=TOKEN_DAYS,
                           scopes=TOKEN_SCOPES, issued={"name": issued.token.name, "secret": issued.secret})


@tokens_bp.post("/<int:token_id>/revoke")
@access(TOKEN_MANAGERS)
def token_revoke(token_id: int) -> Any:
    token = db.session.get(ApiToken, token_id)
    owner = _owner_filter()
    if token is None or (owner is not None and token.staff_user_id != owner):
        abort(404)  # another authority's token is not even acknowledged
    revoke_api_token_by_id(token, current_principal())
    flash(_("Token %(name)s revoked.", name=token.name), "info")
    return redirect(url_for("tokens.token_list"))
