"""Staff sign-in: e-mail and password, then a TOTP code; server-side sessions, lockout.

- Two steps. The password step only remembers, in the signed cookie, which user passed it and when
  (``PENDING_KEY``, valid for ``PENDING_FOR``); the session starts after the code step. A user without a
  confirmed TOTP secret is sent to set one up (QR code and the secret as text) and confirms it with a first
  code: the second factor is mandatory for every staff user (ASVS level 2).
- Failures of either step count towards the same lockout.

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

import time

import qrcode
import qrcode.image.svg
from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ..audit import record
from ..authz import PUBLIC, access, safe_next, staff
from ..extensions import db, limiter
from ..models import STAFF_ROLES, StaffUser, utcnow
from ..security import Principal, current_principal, end_session, start_session
from .service import (begin_totp_enrolment, check_totp, confirm_totp, normalise_email, totp_enrolled,
                      totp_uri, verify_password)

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
LOGIN_RATE_LIMIT = "10/minute;60/hour"
PENDING_KEY = "staff_pending"
PENDING_FOR = 300  # seconds between the password step and the code step

bp = Blueprint("staff", __name__, url_prefix="/staff")

_dummy_hash: str | None = None


def register_staff_link(app: Flask, label: Any, path: str, roles: tuple[str, ...] = STAFF_ROLES) -> None:
    """Show a link on the staff start page to the staff with one of ``roles``; ``label`` is text or a
    ``lazy_gettext`` string."""
    app.extensions.setdefault("covidmeter.staff_links", []).append((label, path, tuple(roles)))


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
    if not verify_password(user, password) or _locked(user) or user.disabled_at is not None:
        _count_failure(user, "password")
        return None
    return user  # the failure count is reset only when the second step succeeds too


def _locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def _count_failure(user: StaffUser, stage: str) -> None:
    now = utcnow()
    if not _locked(user):
        user.failed_attempts = (user.failed_attempts or 0) + 1
        if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
            user.locked_until = now + LOCKOUT
            user.failed_attempts = 0
    record("staff.login.failed", f"staff:{user.id}", Principal("anonymous"), stage=stage, locked=_locked(user))


def _pending_user() -> StaffUser | None:
    """The user who passed the password step in this browser within ``PENDING_FOR`` seconds."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_FOR:
        session.pop(PENDING_KEY, None)
        return None
    user = db.session.get(StaffUser, int(pending.get("id", 0)))
    if user is None or user.disabled_at is not None or _locked(user):
        return None
    return user


def _finish_login(user: StaffUser, target: str) -> Any:
    user.failed_attempts = 0
    user.locked_until = None
    session.pop(PENDING_KEY, None)
    start_session(staff_user=user)
    record("staff.login", f"staff:{user.id}", Principal("staff", staff_user_id=user.id, role=user.role))
    db.session.commit()
    return redirect(target)


def _qr_svg(uri: str) -> Markup:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    return Markup(svg.replace("<svg ", '<svg role="img" aria-labelledby="qr-label" class="qr" ', 1))


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
            session[PENDING_KEY] = {"id": user.id, "at": time.time()}
            db.session.commit()
            step = "staff.login_code" if totp_enrolled(user) else "staff.totp_setup"
            return redirect(url_for(step, next=request.values.get("next") or None))
        db.session.commit()  # the failure count and the audit record
        error = _("The e-mail address or the password is wrong, or the account is locked for a while "
                  "after too many attempts.")
    status = 200 if error is None else 401
    return render_template("staff/login.html", email=email, error=error,
                           next=request.values.get("next", "")), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"])
@access(PUBLIC)
def login_code() -> Any:
    """The second step: the 6-digit code from the authenticator app."""
    target = safe_next(request.values.get("next"), url_for("staff.home"))
    user = _pending_user()
    if user is None:
        flash(_("Please sign in again."), "info")
        return redirect(url_for("staff.login", next=request.values.get("next") or None))
    if not totp_enrolled(user):
        return redirect(url_for("staff.totp_setup", next=request.values.get("next") or None))
    error = None
    if request.method == "POST":
        if check_totp(user, request.form.get("code", "")):
            return _finish_login(user, target)
        _count_failure(user, "totp")
        db.session.commit()
        if _locked(user):
            session.pop(PENDING_KEY, None)
        error = _("That code is not right (or was already used). Enter the code your app shows now.")
    status = 200 if error is None else 401
    return render_template("staff/login_code.html", error=error, next=request.values.get("next", "")), status


@bp.route("/totp/setup", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"])
@access(PUBLIC)
def totp_setup() -> Any:
    """First sign-in: set up the authenticator app (QR code, or the secret typed in) and confirm a code."""
    target = safe_next(request.values.get("next"), url_for("staff.home"))
    user = _pending_user()
    if user is None:
        flash(_("Please sign in again."), "info")
        return redirect(url_for("staff.login", next=request.values.get("next") or None))
    if totp_enrolled(user):
        return redirect(url_for("staff.login_code", next=request.values.get("next") or None))
    secret = begin_totp_enrolment(user)
    db.session.commit()
    error = None
    if request.method == "POST":
        if confirm_totp(user, request.form.get("code", "")):
            return _finish_login(user, target)
        _count_failure(user, "totp-setup")
        db.session.commit()
        error = _("That code is not right. Check that the app shows COVIDmeter and enter the code it shows now.")
    uri = totp_uri(user)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    status = 200 if error is None else 401
    return render_template("staff/totp_setup.html", error=error, next=request.values.get("next", ""),
                           qr=_qr_svg(uri), secret=grouped, uri=uri, email=user.email,
                           development=current_app.config["COVIDMETER_ENV"] == "development"), status


@bp.get("/")
@access(staff(*STAFF_ROLES))
def home() -> Any:
    principal = current_principal()
    user = db.session.get(StaffUser, principal.staff_user_id)
    links = [(label, path) for label, path, roles in current_app.extensions.get("covidmeter.staff_links", [])
             if principal.role in roles]
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
