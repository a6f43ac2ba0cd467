"""The pages behind the weekly reminder's links (reporting.reports.weekly_links): the week's overview,
"nobody in my household was ill" (link -> confirm: two taps), and the report form for one profile. They
show no stored data: no history, no earlier answers, no e-mail address, and they do not log in."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, render_template, request, url_for

from ..advice import advice_after_report
from ..authz import PUBLIC, access
from ..extensions import db, limiter
from ..questionnaire import current, validate
from ..reports import service as reports
from ..reports import weekly_links
from ..weeks import age_in_week, format_iso_week
from .blueprint import FORM_LIMIT, LINK_LIMIT, bp, page_language
from .forms import report_summary


def _capability(token: str) -> weekly_links.WeeklyCapability | None:
    try:
        return weekly_links.capability(token)
    except weekly_links.WeeklyLinkNotValid:
        return None


def _expired() -> Any:
    return render_template("citizen/week_expired.html"), 410


@bp.get("/week/<token>")
@access(PUBLIC)
def week(token: str) -> Any:
    cap = _capability(token)
    if cap is None:
        return _expired()
    return render_template("citizen/week.html", cap=cap, token=token, week_label=format_iso_week(cap.week))


@bp.route("/week/<token>/nobody-ill", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(LINK_LIMIT, methods=["POST"])
def week_nobody_ill(token: str) -> Any:
    cap = _capability(token)
    if cap is None:
        return _expired()
    if request.method == "GET":
        return render_template("citizen/week_nobody_ill.html", cap=cap, token=token,
                               action=url_for("citizen.week_nobody_ill", token=token))
    try:
        written = weekly_links.nobody_ill(token, current("weekly"))
    except (weekly_links.WeeklyLinkNotValid, reports.WeekClosed):
        return _expired()
    return render_template("citizen/week_done.html", cap=weekly_links.capability(token), token=token,
                           written=written)


@bp.route("/week/<token>/report/<profile_id>", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(FORM_LIMIT, methods=["POST"])
def week_report(token: str, profile_id: str) -> Any:
    cap = _capability(token)
    if cap is None:
        return _expired()
    try:
        profile = cap.profile(profile_id)
    except reports.ProfileNotFound:
        abort(404)
    questionnaire = current("weekly")
    context = dict(profile=profile, questionnaire=questionnaire, week=cap.week, week_label=format_iso_week(cap.week),
                   action=url_for("citizen.week_report", token=token, profile_id=profile_id), existing=None,
                   via_link=True, token=token)
    if request.method == "GET":
        # Never the stored answers: the link shows no stored data. A report already given is only mentioned.
        return render_template("citizen/report.html", values={}, errors={}, summary=[],
                               submission_id=secrets.token_urlsafe(24), already=profile.reported, **context)
    submission_id = request.form.get("submission_id", "")
    result = validate(questionnaire, request.form, lang=page_language(), today=reports.local_today())
    if not result.ok:
        if not reports.SUBMISSION_ID.match(submission_id):
            submission_id = secrets.token_urlsafe(24)
        return render_template("citizen/report.html", values=result.raw, errors=result.errors,
                               summary=report_summary(questionnaire, result), submission_id=submission_id,
                               already=profile.reported, **context), 400
    try:
        stored = weekly_links.submit(token, profile_id, submission_id=submission_id, questionnaire=questionnaire,
                            answers=result.answers)
    except (weekly_links.WeeklyLinkNotValid, reports.WeekClosed):
        return _expired()
    except reports.ProfileNotFound:
        abort(404)
    except reports.InvalidSubmissionId:
        abort(400)
    except reports.SubmissionConflict:
        return render_template("citizen/report_conflict.html", profile=profile,
                               again=url_for("citizen.week_report", token=token, profile_id=profile_id)), 409
    # The thank-you page is rendered from the answers just sent (not read back), with the advice for the
    # person as the report read them.
    person = stored.profile
    advice = advice_after_report(result.answers, person, age=age_in_week(person.birth_year, cap.week),
                                 lang=page_language(), region_code=stored.region_code)
    db.session.rollback()
    return render_template("citizen/report_thanks.html", report=None, profile=profile, advice=advice,
                           week_label=format_iso_week(cap.week), week=cap.week, via_link=True,
                           back=url_for("citizen.week", token=token),
                           no_symptoms=result.answers.get("symptoms") == ["none"])
