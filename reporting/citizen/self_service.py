"""Citizen self-service pages: the people one reports for, history and the region's figures, settings
(reminders, language, e-mail address), a copy of one's data, withdrawal, and one-click unsubscribe.
Views stay thin: they read forms and call the services, which own the transactions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from ..accounts import data_rights, profiles, settings
from ..accounts import service as accounts
from ..accounts.mailing import account_of_unsubscribe_token
from ..authz import CITIZEN, PUBLIC, access
from ..extensions import csrf, limiter
from ..i18n import LANGUAGES
from ..questionnaire import answers_to_form, current
from ..reports import region, service as reports
from ..weeks import format_iso_week
from .blueprint import FORM_LIMIT, LINK_LIMIT, bp, citizen_account, page_language
from .forms import read_email, read_profile

WEEKDAYS = lambda: [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"),  # noqa: E731
                    _("Sunday")]
RELATION_LABELS = lambda: {"child": _("My child"), "parent": _("My parent"), "partner": _("My partner"),  # noqa: E731
                           "other": _("Someone else")}
EXPORT_LIMIT = "10/minute"


# --- the people one reports for --------------------------------------------------------------------------

@bp.route("/me/profiles/new", methods=["GET", "POST"])
@access(CITIZEN)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def profile_new() -> Any:
    account_id = citizen_account()
    intake = current("intake")
    context = dict(intake=intake, relations=RELATION_LABELS(), profile=None)
    if request.method == "GET":
        return render_template("citizen/profile_form.html", form=None, summary=[], **context)
    form = read_profile(request.form, intake, lang=page_language(), today=reports.local_today())
    if not form.ok:
        return render_template("citizen/profile_form.html", form=form, summary=form.summary(intake), **context), 400
    try:
        profiles.add_profile(account_id, relation=form.relation, display_name=form.display_name, intake=intake,
                             answers=form.intake.answers)
    except profiles.ProfileRefused:
        flash(_("You can report for at most %(n)s people.", n=profiles.MAX_PROFILES), "error")
        return redirect(url_for("citizen.me"))
    flash(_("The person has been added. You can now report for them."), "success")
    return redirect(url_for("citizen.me"))


@bp.route("/me/profiles/<profile_id>/edit", methods=["GET", "POST"])
@access(CITIZEN)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def profile_edit(profile_id: str) -> Any:
    account_id = citizen_account()
    intake = current("intake")
    try:
        profile = profiles.profile_of(account_id, profile_id)
    except profiles.ProfileNotFound:
        abort(404)
    context = dict(intake=intake, relations=RELATION_LABELS(), profile=profile)
    if request.method == "GET":
        values = answers_to_form(intake, profile.intake_answers or {})
        return render_template("citizen/profile_form.html", form=None, values=values, summary=[], **context)
    form = read_profile(request.form, intake, lang=page_language(), today=reports.local_today(),
                        relation=profile.relation)
    if not form.ok:
        return render_template("citizen/profile_form.html", form=form, summary=form.summary(intake), **context), 400
    profiles.update_profile(account_id, profile_id, intake=intake, answers=form.intake.answers,
                            display_name=form.display_name)
    flash(_("The changes have been saved."), "success")
    return redirect(url_for("citizen.me"))


@bp.route("/me/profiles/<profile_id>/delete", methods=["GET", "POST"])
@access(CITIZEN)
def profile_delete(profile_id: str) -> Any:
    account_id = citizen_account()
    try:
        profile = profiles.profile_of(account_id, profile_id)
    except profiles.ProfileNotFound:
        abort(404)
    if profile.relation == "self":
        return redirect(url_for("citizen.withdraw"))
    if request.method == "GET":
        return render_template("citizen/profile_delete.html", profile=profile)
    profiles.delete_profile(account_id, profile_id)
    flash(_("The person and their reports have been deleted."), "success")
    return redirect(url_for("citizen.me"))


# --- history and the region -------------------------------------------------------------------------------

@bp.get("/me/history")
@access(CITIZEN)
def history() -> Any:
    account_id = citizen_account()
    people = accounts.profiles_of(account_id)
    entries = reports.history(account_id)
    regions = []
    seen: set[int] = set()
    for profile in people:
        code = region.region_of(profile.municipality_code)
        if code is not None and code not in seen:
            seen.add(code)
            trend = region.region_trend(code)
            if trend is not None:
                regions.append(trend)
    return render_template("citizen/history.html", profiles=people, entries=entries, regions=regions,
                           format_iso_week=format_iso_week)


# --- settings ---------------------------------------------------------------------------------------------

@bp.get("/me/settings")
@access(CITIZEN)
def settings_page() -> Any:
    account = settings.account(citizen_account())
    return render_template("citizen/settings.html", account=account, weekdays=WEEKDAYS(),
                           pause_weeks=settings.PAUSE_WEEKS, today=reports.local_today(), email_error=None,
                           email_value="")


@bp.post("/me/settings/preferences")
@access(CITIZEN)
def settings_preferences() -> Any:
    language = request.form.get("language", "")
    weekday = request.form.get("reminder_weekday", "")
    if language not in LANGUAGES or not weekday.isdigit() or not 0 <= int(weekday) <= 6:
        abort(400)
    settings.update_preferences(citizen_account(), language=language, reminder_weekday=int(weekday))
    session["lang"] = language
    flash(_("Your settings have been saved."), "success")
    return redirect(url_for("citizen.settings_page"))


@bp.post("/me/settings/pause")
@access(CITIZEN)
def settings_pause() -> Any:
    weeks = request.form.get("weeks", "")
    if weeks == "resume":
        settings.pause_reminders(citizen_account(), None)
        flash(_("The weekly reminders are on again."), "success")
    elif weeks.isdigit() and int(weeks) in settings.PAUSE_WEEKS:
        until = reports.local_today() + dt.timedelta(weeks=int(weeks))
        settings.pause_reminders(citizen_account(), until)
        flash(_("The weekly reminders are paused until %(date)s.", date=_date(until)), "success")
    else:
        abort(400)
    return redirect(url_for("citizen.settings_page"))


@bp.post("/me/settings/reminders")
@access(CITIZEN)
def settings_reminders() -> Any:
    action = request.form.get("action")
    if action == "stop":
        settings.unsubscribe(citizen_account(), channel="settings")
        flash(_("You will not get weekly reminders any more. You can still log in and report."), "success")
    elif action == "start":
        settings.resubscribe(citizen_account())
        flash(_("The weekly reminders are on again."), "success")
    else:
        abort(400)
    return redirect(url_for("citizen.settings_page"))


@bp.post("/me/settings/email")
@access(CITIZEN)
@limiter.limit(FORM_LIMIT)
def settings_email() -> Any:
    email, error = read_email(request.form)
    if error:
        account = settings.account(citizen_account())
        return render_template("citizen/settings.html", account=account, weekdays=WEEKDAYS(),
                               pause_weeks=settings.PAUSE_WEEKS, today=reports.local_today(),
                               email_error=error, email_value=email), 400
    settings.request_email_change(citizen_account(), email)
    flash(_("We have sent a link to the new address. The change takes effect when you open it."), "success")
    return redirect(url_for("citizen.settings_page"))


@bp.route("/me/email/confirm/<token>", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(LINK_LIMIT, methods=["POST"])
def email_confirm(token: str) -> Any:
    """The link mailed to the new address: GET shows a button (a mail scanner spends nothing), POST spends."""
    if request.method == "GET":
        try:
            pending = settings.inspect_email_change(token)
        except settings.ChangeNotValid:
            return render_template("citizen/link_invalid.html"), 410
        return render_template("citizen/email_confirm.html", new_email=pending.new_email,
                               action=url_for("citizen.email_confirm", token=token))
    try:
        settings.confirm_email_change(token)
    except settings.ChangeNotValid:
        return render_template("citizen/link_invalid.html"), 410
    flash(_("Your e-mail address has been changed."), "success")
    return redirect(url_for("citizen.settings_page"))


def _date(day: dt.date) -> str:
    return format_date(day, "long")


# --- your data and withdrawal -----------------------------------------------------------------------------

@bp.get("/me/export.json")
@access(CITIZEN)
@limiter.limit(EXPORT_LIMIT)
def export_json() -> Any:
    document = data_rights.export_data(citizen_account())
    body = json.dumps(document, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="covidmeter-my-data.json"'})


@bp.get("/me/export.csv")
@access(CITIZEN)
@limiter.limit(EXPORT_LIMIT)
def export_csv() -> Any:
    document = data_rights.export_data(citizen_account())
    return Response("\ufeff" + data_rights.export_csv(document), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="covidmeter-my-reports.csv"'})


@bp.route("/me/withdraw", methods=["GET", "POST"])
@access(CITIZEN)
def withdraw() -> Any:
    if request.method == "GET":
        return render_template("citizen/withdraw.html")
    language = session.get("lang")
    data_rights.withdraw(citizen_account(), channel="web")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("citizen.withdrawn"))


@bp.get("/withdrawn")
@access(PUBLIC)
def withdrawn() -> Any:
    return render_template("citizen/withdrawn.html")


# --- one-click unsubscribe (RFC 8058) ---------------------------------------------------------------------

@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(LINK_LIMIT, methods=["POST"])
@csrf.exempt
def unsubscribe(token: str) -> Any:
    """GET (a person clicking the link in the mail) shows one button; POST stops the reminders. The mail
    client's one-click POST (body ``List-Unsubscribe=One-Click``) carries no CSRF token: the signed token
    in the address is the authority, and all it can do is stop reminders."""
    account_id = account_of_unsubscribe_token(token)
    if account_id is None:
        return render_template("citizen/link_invalid.html"), 404
    if request.method == "GET":
        return render_template("citizen/unsubscribe.html", action=url_for("citizen.unsubscribe", token=token))
    try:
        settings.unsubscribe(account_id, channel="one-click" if request.form.get("List-Unsubscribe") else "link")
    except LookupError:
        pass  # the account was deleted: nothing to stop
    return render_template("citizen/unsubscribed.html")
