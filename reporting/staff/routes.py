"""Staff sign-in: e-mail and password (TOTP follows as a second step), server-side sessions, lockout.

- One message for every failed attempt (unknown e-mail, wrong password, locked or disabled account), and
  a password check is made even for an unknown e-mail, so neither the answer nor its timing tells whether
  an account exists.
- After ``MAX_FAILED_ATTEMPTS`` consecutive failures the account is locked for ``LOCKOUT``; the attempts
  are also rate-limited per client address.
- ``next`` is followed only when it is a same-site path (``authz.safe_next``).

Parts of the app that staff use (the dashboard) add themselves to the staff start page with
``register_staff_link``; this package does not import them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ..audit import record
from ..authz import PUBLIC, access, safe_next, staff
from ..extensions import db, limiter
from ..models import STAFF_ROLES, StaffUser, utcnow
from ..security import Principal, current_principal, end_session, start_session
from .service import normalise_email, verify_password

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
LOGIN_RATE_LIMIT = "10/minute;60/hour"

bp = Blueprint("staff", __name__, url_prefix="/staff")

_dummy_hash: str | None = None


def register_staff_link(app: Flask, label: Any, path: str) -> None:
    """Show a link on the staff start page; ``label`` is text or a ``lazy_gettext`` string."""
    app.extensions.setdefault("covidmeter.staff_links", []).append((label, path))


def _dummy_password_hash() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash("not-a-password-of-anyone")
    return _dummy_hash


def _authenticate(email: str, password: str) -> StaffUser | None:
    """The staff user for these credentials, or None; counts failures and locks (the caller commits)."""
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))
    if user is None:
        verify_password(StaffUser(password_hash=_dummy_password_hash()), password)  # same work as a real check
        return None
    now = utcnow()
    locked = user.locked_until is not None and user.locked_until > now
    if not verify_password(user, password) or locked or user.disabled_at is not None:
        if not locked:
            user.failed_attempts = (user.failed_attempts or 0) + 1
            if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
                user.locked_until = now + LOCKOUT
                user.failed_attempts = 0
        record("staff.login.failed", f"staff:{user.id}", Principal("anonymous"),
               locked=user.locked_until is not None and user.locked_until > now)
        return None
    user.failed_attempts = 0
    user.locked_until = None
    return user


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"])
@access(PUBLIC)
def login() -> Any:
    target = safe_next(request.values.get("next"), url_for("staff.home"))
    if current_principal().is_staff and request.method == "GET":
        return redirect(target)
    email = ""
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        user = _authenticate(email, password) if email and password else None
        if user is not None:
            start_session(staff_user=user)
            record("staff.login", f"staff:{user.id}", Principal("staff", staff_user_id=user.id, role=user.role))
            db.session.commit()
            return redirect(target)
        db.session.commit()  # the failure count and the audit record
        error = _("The e-mail address or the password is wrong, or the account is locked for a while "
                  "after too many attempts.")
    status = 200 if error is None else 401
    return render_template("staff/login.html", email=email, error=error,
                           next=request.values.get("next", "")), status


@bp.get("/")
@access(staff(*STAFF_ROLES))
def home() -> Any:
    principal = current_principal()
    user = db.session.get(StaffUser, principal.staff_user_id)
    links = current_app.extensions.get("covidmeter.staff_links", [])
    return render_template("staff/home.html", user=user, links=links)


@bp.post("/logout")
@access(PUBLIC)  # ending a session needs no session (an expired one must still be able to log out)
def logout() -> Any:
    principal = current_principal()
    if principal.is_staff:
        record("staff.logout", f"staff:{principal.staff_user_id}", principal)
    end_session()
    db.session.commit()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.login"))
