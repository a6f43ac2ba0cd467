"""Views of the citizen API. Thin: they read JSON (validated by the models of ``schemas.py``), call the
services (which own the transactions) and answer JSON. Every error is a problem document
(``reporting.problems``); see ``openapi.py`` for the contract, which a test keeps in step with these routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address

from ..accounts import data_rights, profiles, settings
from ..accounts import service as accounts
from ..advice import advice_after_report
from ..authz import PUBLIC, InsufficientScope, Rule, Unauthorized, access, authenticates_tokens, token
from ..extensions import csrf, db, limiter
from ..i18n import select_locale
from ..problems import ProblemError
from ..questionnaire import Questionnaire, current, validate
from ..reports import service as reports
from ..security import Principal, hash_secret, set_principal
from ..weeks import age_in_week, format_iso_week
from . import ratelimit, sessions
from .openapi import document as openapi_document
from .ratelimit import limited
from .representations import profile_json, questionnaire_json
from .schemas import LoginRequest, NewProfile, NewReport, ProfileChange, SessionRequest, SettingsChange, invalid, parse

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("citizen_api", __name__, url_prefix="/api/v1/me")
csrf.exempt(bp)
bp.record_once(lambda state: ratelimit.check_configuration(state.app))

BEARER = token("citizen")  # a live bearer session: ``authenticate`` below, called by authz.enforce
AUTH_LIMIT = "10/minute"
SUBMIT_LIMIT = "60/minute"
READ_LIMIT = "120/minute"


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _bearer_hash() -> str | None:
    """The SHA-256 of the presented bearer token (as sessions are stored), computed once per request."""
    if "api_bearer_hash" not in g:
        presented = _bearer()
        g.api_bearer_hash = hash_secret(presented) if presented else None
    return g.api_bearer_hash


def rate_key() -> str:
    digest = _bearer_hash()
    return f"me:{digest[:32]}" if digest else f"addr:{get_remote_address()}"


def authenticates_itself(view: F) -> F:
    """The view's service checks the bearer session in the same statement that does the work (one round
    trip instead of two): the hook only refuses a missing or malformed token, and the view must call
    ``_signed_in_account`` before it answers anything else than the service's result."""
    view.api_authenticates_itself = True  # type: ignore[attr-defined]
    return view


REALM = "covidmeter-me"


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, REALM)


@authenticates_tokens(bp)
def authenticate(rule: Rule) -> None:
    """The bearer session of a ``BEARER`` view (called by ``authz.enforce``): 401 without a live one. A view that
    authenticates its session in the statement that does its work only has the token's shape checked here."""
    if rule != BEARER:
        raise InsufficientScope(rule.scope or "", REALM)
    presented = _bearer()
    if presented is None:
        raise _unauthorized("Send the session token as 'Authorization: Bearer <token>' (POST /api/v1/me/session).")
    if not sessions.presented(presented):
        raise _unauthorized(NOT_SIGNED_IN)
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "api_authenticates_itself", False):
        _signed_in_account()


@bp.before_request
def count() -> None:
    """The view's rate limit (429 when spent), after ``authz.enforce`` authenticated the request."""
    if request.endpoint is None:
        return
    limit = ratelimit.limit_of(current_app.view_functions.get(request.endpoint))
    if limit is not None:
        ratelimit.count(limit)


bp.after_request(ratelimit.add_headers)

NOT_SIGNED_IN = "The session token is unknown, expired or revoked. Sign in again."


def _signed_in_account() -> int:
    """The account of this request's live bearer session (401 without one), looked up once."""
    if "api_account_id" not in g:
        account_id = sessions.account_for(_bearer() or "")
        if account_id is None:
            raise _unauthorized(NOT_SIGNED_IN)
        _signed_in_as(account_id)
    return int(g.api_account_id)


def _signed_in_as(account_id: int) -> None:
    g.api_account_id = account_id
    set_principal(Principal("citizen", account_id=account_id))


@limiter.request_filter
def _counted_by_the_api() -> bool:
    """Flask-Limiter's own per-request hooks pass this blueprint's requests by: ``ratelimit`` counts them."""
    return request.blueprint == bp.name


def _account_id() -> int:
    return _signed_in_account()


def _lang() -> str:
    """The language of answers and messages: Flask-Babel's choice (``reporting.i18n.select_locale``), made
    once per request and without building a babel ``Locale``, which only the pages need."""
    lang = g.get("api_lang")
    if lang is None:
        lang = g.api_lang = select_locale()
    return lang


# --- public: the contract and sign-in -----------------------------------------------------------------------

@bp.get("/openapi.json")
@access(PUBLIC)
def openapi() -> Any:
    return jsonify(openapi_document(current_app.config["COVIDMETER_BASE_URL"]))


@bp.post("/login")
@access(PUBLIC)
@limited(AUTH_LIMIT, key=get_remote_address)
def login() -> Any:
    email = parse(LoginRequest).email
    try:
        accounts.request_login(email, language=_lang())
    except accounts.InvalidEmail as exc:
        raise ProblemError(422, "Unprocessable Content", str(exc), errors={"email": str(exc)}) from None
    # The same answer whether or not the address is registered.
    return jsonify(status="sent", detail="If the address is registered, a login link has been mailed to it."), 202


@bp.post("/session")
@access(PUBLIC)
@limited(AUTH_LIMIT, key=get_remote_address)
def session_create() -> Any:
    link_token = parse(SessionRequest).token
    try:
        issued = sessions.exchange_link(link_token)
    except accounts.LinkNotValid:
        raise ProblemError(400, "Link not valid", "The link has been used or has expired. Ask for a new one.") from None
    return jsonify(access_token=issued.access_token, token_type="Bearer",
                   expires_at=issued.expires_at.isoformat()), 201


@bp.delete("/session")
@access(BEARER)
def session_delete() -> Any:
    sessions.revoke(_bearer() or "")
    return "", 204


# --- the account ---------------------------------------------------------------------------------------------

@bp.get("")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def me() -> Any:
    account_id = _account_id()
    account = settings.account(account_id)
    week = reports.current_week()
    reported = reports.reported_profiles(account_id, week)
    people = accounts.profiles_of(account_id)
    body = {
        "email": account.email, "language": account.language, "week": format_iso_week(week),
        "reminders": {"weekday": account.reminder_weekday,
                      "paused_until": account.reminders_paused_until.isoformat() if account.reminders_paused_until else None,
                      "stopped": account.unsubscribed_at is not None},
        "profiles": [profile_json(p, reported=p.id in reported) for p in people],
    }
    db.session.rollback()
    return jsonify(body)


@bp.patch("/settings")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def settings_update() -> Any:
    change = parse(SettingsChange)
    account_id = _account_id()
    account = settings.account(account_id)
    language = change.language or account.language
    weekday = account.reminder_weekday if change.reminder_weekday is None else change.reminder_weekday
    settings.update_preferences(account_id, language=language, reminder_weekday=weekday)
    if "reminders_paused_until" in change.model_fields_set:
        settings.pause_reminders(account_id, change.reminders_paused_until)
    if change.reminders == "off":
        settings.unsubscribe(account_id, channel="api")
    elif change.reminders == "on":
        settings.resubscribe(account_id)
    return me()


@bp.delete("")
@access(BEARER)
def withdraw() -> Any:
    """Withdraw consent: the account and every answer are deleted now."""
    data_rights.withdraw(_account_id(), channel="api")
    return "", 204


@bp.get("/export")
@access(BEARER)
@limited("10/minute", key=rate_key)
def export() -> Any:
    return jsonify(data_rights.export_data(_account_id()))


@bp.get("/questionnaires/<key>")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def questionnaire(key: str) -> Any:
    if key not in ("weekly", "intake"):
        raise ProblemError(404, "Not Found", "Known questionnaires: weekly, intake.")
    body = questionnaire_json(current(key))
    db.session.rollback()
    return jsonify(body)


# --- profiles ------------------------------------------------------------------------------------------------

@bp.post("/profiles")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def profile_create() -> Any:
    body = parse(NewProfile)
    intake = current("intake")
    result = validate(intake, body.answers, lang=_lang(), today=reports.local_today(),
                      context={"relation": body.relation})
    if not result.ok:
        raise invalid(result.errors)
    try:
        profile = profiles.add_profile(_account_id(), relation=body.relation, display_name=body.display_name,
                                       intake=intake, answers=result.answers)
    except profiles.ProfileRefused:
        raise ProblemError(409, "Conflict", f"An account can report for at most {profiles.MAX_PROFILES} people.") from None
    return jsonify(profile_json(profile, reported=False)), 201


@bp.put("/profiles/<profile_id>")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def profile_update(profile_id: str) -> Any:
    body = parse(ProfileChange)
    account_id = _account_id()
    try:
        existing = profiles.profile_of(account_id, profile_id)
    except profiles.ProfileNotFound:
        raise ProblemError(404, "Not Found", "No such profile.") from None
    intake = current("intake")
    result = validate(intake, body.answers, lang=_lang(), today=reports.local_today(),
                      context={"relation": existing.relation})
    if not result.ok:
        raise invalid(result.errors)
    profile = profiles.update_profile(account_id, profile_id, intake=intake, answers=result.answers,
                                      display_name=body.display_name)
    reported = profile_id in reports.reported_profiles(account_id, reports.current_week())
    return jsonify(profile_json(profile, reported=reported))


@bp.delete("/profiles/<profile_id>")
@access(BEARER)
def profile_delete(profile_id: str) -> Any:
    try:
        profiles.delete_profile(_account_id(), profile_id)
    except profiles.ProfileNotFound:
        raise ProblemError(404, "Not Found", "No such profile.") from None
    except profiles.ProfileRefused:
        raise ProblemError(409, "Conflict", "The account holder's own profile goes only with the account: "
                                            "DELETE /api/v1/me withdraws.") from None
    return "", 204


# --- reports -------------------------------------------------------------------------------------------------

@bp.post("/profiles/<profile_id>/reports")
@access(BEARER)
@authenticates_itself
@limited(SUBMIT_LIMIT, key=rate_key)
def report_submit(profile_id: str) -> Any:
    try:
        body = parse(NewReport)
        submission_id = body.submission_id
        questionnaire: Questionnaire = current("weekly")
        result = validate(questionnaire, body.answers, lang=_lang(), today=reports.local_today())
        if not result.ok:
            raise invalid(result.errors)
    except ProblemError:
        _signed_in_account()  # an unknown session is a 401 before anything is said about the body
        raise
    try:
        # The service authenticates the session in the statement that stores the report.
        stored = reports.submit_report(session_hash=_bearer_hash(), profile_id=profile_id,
                                       submission_id=submission_id, questionnaire=questionnaire,
                                       answers=result.answers)
    except reports.NotSignedIn:
        raise _unauthorized(NOT_SIGNED_IN) from None
    except reports.ProfileNotFound:
        raise ProblemError(404, "Not Found", "No such profile.") from None
    except reports.SubmissionConflict:
        raise ProblemError(409, "Conflict", "This submission_id was used before with other answers. "
                                            "Use a new submission_id for a new report.") from None
    return jsonify(_report_json(profile_id, stored, questionnaire, result.answers)), 200 if stored.replayed else 201


def _report_json(profile_id: str, stored: reports.SubmissionResult, questionnaire: Questionnaire,
                 answers: dict[str, Any]) -> dict[str, Any]:
    advice = advice_after_report(answers, stored.profile, age=age_in_week(stored.profile.birth_year, stored.week),
                                 lang=_lang(), region_code=stored.region_code)
    return {"profile_id": profile_id, "week": format_iso_week(stored.week), "revision": stored.revision,
            "replayed": stored.replayed, "questionnaire_version": questionnaire.id, "answers": answers,
            "advice": [{"key": a.key, "level": a.level, "text": a.text} for a in advice]}


@bp.get("/reports")
@access(BEARER)
@limited(READ_LIMIT, key=rate_key)
def history() -> Any:
    entries = reports.history(_account_id())
    return jsonify({"profiles": [
        {"profile_id": profile_id, "reports": [
            {"week": format_iso_week(e.week), "submitted_at": e.submitted_at.isoformat(), "revision": e.revision,
             "questionnaire_version": e.questionnaire_version, "no_symptoms": e.no_symptoms,
             "symptoms": list(e.symptoms)} for e in items]}
        for profile_id, items in entries.items()]})
