"""The citizen pages: front page, sign-up, login by e-mail link, the account's overview and the weekly
report. Views are thin: they read forms, call the services (which own the transactions) and render."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ..accounts import service as accounts
from ..advice import advice_after_report
from ..authz import CITIZEN, PUBLIC, access, safe_next
from ..extensions import limiter
from ..questionnaire import answers_to_form, current, validate
from ..reports import service as reports
from ..security import current_principal
from ..weeks import format_iso_week
from .blueprint import FORM_LIMIT, LINK_LIMIT, bp, citizen_account, page_language
from .forms import read_login, read_sign_up, report_summary


@bp.get("/")
@access(PUBLIC)
def home() -> Any:
    return render_template("citizen/home.html", logged_in=current_principal().is_citizen)


# --- sign-up --------------------------------------------------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def signup() -> Any:
    intake = current("intake")
    if request.method == "POST":
        form = read_sign_up(request.form, intake, lang=page_language(), today=reports.local_today())
        if form.ok:
            accounts.sign_up(form.email, language=page_language(), consent_version=accounts.CONSENT_VERSION,
                             intake=intake, intake_answers=form.intake.answers)
            return redirect(url_for("citizen.signup_sent"))
        return render_template("citizen/signup.html", intake=intake, form=form,
                               summary=form.summary(intake), consent_version=accounts.CONSENT_VERSION), 400
    return render_template("citizen/signup.html", intake=intake, form=None, summary=[],
                           consent_version=accounts.CONSENT_VERSION)


@bp.get("/signup/sent")
@access(PUBLIC)
def signup_sent() -> Any:
    return render_template("citizen/link_sent.html", kind="signup")


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(LINK_LIMIT, methods=["POST"])
def signup_confirm(token: str) -> Any:
    return _sign_in_link(token, "citizen.signup_confirm",
                       _("Thank you. Your e-mail address is confirmed and you are logged in."))


# --- login ----------------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def login() -> Any:
    if request.method == "POST":
        email, error = read_login(request.form)
        if error:
            return render_template("citizen/login.html", email=email, error=error,
                                   next=request.form.get("next", "")), 400
        session["login_next"] = safe_next(request.form.get("next"), url_for("citizen.me"))
        accounts.request_login(email, language=page_language())
        return redirect(url_for("citizen.login_sent"))
    if current_principal().is_citizen:
        return redirect(safe_next(request.args.get("next"), url_for("citizen.me")))
    return render_template("citizen/login.html", email="", error=None, next=request.args.get("next", ""))


@bp.get("/login/sent")
@access(PUBLIC)
def login_sent() -> Any:
    return render_template("citizen/link_sent.html", kind="login")


@bp.route("/login/link/<token>", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(LINK_LIMIT, methods=["POST"])
def login_link(token: str) -> Any:
    return _sign_in_link(token, "citizen.login_link", _("You are logged in."))


def _sign_in_link(token: str, endpoint: str, welcome: str) -> Any:
    """GET shows a confirmation page (a mail scanner opening the link spends nothing); POST spends it."""
    if request.method == "GET":
        try:
            link = accounts.inspect_link(token)
        except accounts.LinkNotValid:
            return render_template("citizen/link_invalid.html"), 410
        return render_template("citizen/link_confirm.html", purpose=link.purpose,
                               action=url_for(endpoint, token=token))
    target = safe_next(session.get("login_next"), url_for("citizen.me"))
    language = session.get("lang")
    try:
        accounts.redeem_link(token)  # starts a fresh session
    except accounts.LinkNotValid:
        return render_template("citizen/link_invalid.html"), 410
    if language:
        session["lang"] = language
    flash(welcome, "success")
    return redirect(target)


@bp.post("/logout")
@access(CITIZEN)
def logout() -> Any:
    language = session.get("lang")
    accounts.log_out()
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You are logged out."), "success")
    return redirect(url_for("citizen.home"))


# --- the account's overview and the weekly report ----------------------------------------------------------

@bp.get("/me")
@access(CITIZEN)
def me() -> Any:
    account_id = citizen_account()
    week = reports.current_week()
    profiles = accounts.profiles_of(account_id)
    reported = reports.reported_profiles(account_id, week)
    return render_template("citizen/me.html", profiles=profiles, reported=reported, week=week,
                           week_label=format_iso_week(week))


@bp.route("/report/<profile_id>", methods=["GET", "POST"])
@access(CITIZEN)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def report(profile_id: str) -> Any:
    account_id = citizen_account()
    questionnaire = current("weekly")
    week = reports.current_week()
    try:
        profile = reports.owned_profile(account_id, profile_id)
    except reports.ProfileNotFound:
        abort(404)
    context = dict(profile=profile, questionnaire=questionnaire, week=week, week_label=format_iso_week(week),
                   action=url_for("citizen.report", profile_id=profile_id), via_link=False, already=False)
    if request.method == "GET":
        existing = reports.report_for_week(account_id, profile_id, week)
        values = (answers_to_form(questionnaire, existing.answers)
                  if existing is not None and existing.questionnaire_version == questionnaire.id else {})
        return render_template("citizen/report.html", values=values, errors={}, summary=[],
                               submission_id=secrets.token_urlsafe(24), existing=existing, **context)

    submission_id = request.form.get("submission_id", "")
    result = validate(questionnaire, request.form, lang=page_language(), today=reports.local_today())
    if not result.ok:
        if not reports.SUBMISSION_ID.match(submission_id):
            submission_id = secrets.token_urlsafe(24)
        return render_template("citizen/report.html", values=result.raw, errors=result.errors,
                               summary=report_summary(questionnaire, result), submission_id=submission_id,
                               existing=None, **context), 400
    try:
        reports.submit_report(account_id=account_id, profile_id=profile_id, submission_id=submission_id,
                              questionnaire=questionnaire, answers=result.answers)
    except reports.ProfileNotFound:
        abort(404)
    except reports.InvalidSubmissionId:
        abort(400)
    except reports.SubmissionConflict:
        return render_template("citizen/report_conflict.html", profile=profile), 409
    return redirect(url_for("citizen.report_thanks", profile_id=profile_id))


@bp.get("/report/<profile_id>/thanks")
@access(CITIZEN)
def report_thanks(profile_id: str) -> Any:
    account_id = citizen_account()
    week = reports.current_week()
    try:
        existing = reports.report_for_week(account_id, profile_id, week)
    except reports.ProfileNotFound:
        abort(404)
    if existing is None:
        return redirect(url_for("citizen.report", profile_id=profile_id))
    profile = reports.owned_profile(account_id, profile_id)
    return render_template("citizen/report_thanks.html", report=existing, profile=profile,
                           advice=advice_after_report(existing.answers, profile, age=existing.age_years,
                                                      lang=page_language()),
                           week_label=format_iso_week(week), week=week, via_link=False)


def profile_label(profile: Any) -> str:
    """How a profile is named to the account holder: "You", or the name they gave, or the relation."""
    if profile.relation == "self":
        return _("You")
    return profile.display_name or {
        "child": _("Your child"), "parent": _("Your parent"), "partner": _("Your partner"),
    }.get(profile.relation, _("Someone you report for"))


@bp.app_template_global("profile_label")
def _profile_label(profile: Any) -> str:
    return profile_label(profile)


@bp.app_template_filter("symptom_label")
def _symptom_label(key: str) -> str:
    option = current("weekly").question("symptoms").option(key)
    return option.text(page_language()) if option else key


@bp.context_processor
def _citizen_template_helpers() -> dict[str, Any]:
    return {"citizen_logged_in": lambda: current_principal().is_citizen, "timedelta": dt.timedelta}
