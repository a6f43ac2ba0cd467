"""Weekly reports: one row per profile per ISO week, written in one transaction.

``submit_report`` is the only way a report is written: the citizen pages, the weekly link (a report, or
"nobody was ill" for the household) and the citizen API (with its group commit) all call it, and whichever
statement it takes (the ORM's, SQLite's Core INSERTs, PostgreSQL's one statement) the report's values are
built by ``_report_values`` and ``_stratum``. It

- checks that the profile belongs to the account (record-level authorisation: otherwise ``ProfileNotFound``,
  which views answer with 404, so another account's profile ids cannot be probed);
- files the report under the ISO week of the submission day in Europe/Copenhagen (``reporting.weeks``);
- copies the person's stratum (region, municipality, sex, birth year, age) from the profile;
- stores the answers as given with the questionnaire version, plus the typed columns from the
  definition's ``store`` mapping, and the derived onset date and onset week;
- on a second submission in the same week replaces the answers, increments ``revision`` and keeps the
  previous version as a ``ReportRevision``;
- makes a retried POST harmless: the client's submission id is kept with a SHA-256 of the canonical body.
  The same id with the same body replays the stored result; the same id with another body is a
  ``SubmissionConflict`` (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Connection, bindparam, insert, select, tuple_
from sqlalchemy.exc import IntegrityError, OperationalError

from ..db import Busy, sqlite_snapshot_busy
from ..extensions import db
from ..models import Municipality, Profile, ReportRevision, ReportSubmission, WeeklyReport, utcnow
from ..questionnaire import Questionnaire, to_columns
from ..security import live_citizen_session
from ..symptoms import SYMPTOMS
from ..weeks import age_in_week, iso_year, monday_of, onset_date
from . import group_commit

# Columns of weekly_reports that are not answers (everything else is written from the answers).
NOT_ANSWER_COLUMNS = frozenset({
    "id", "profile_id", "week", "submitted_at", "revision", "questionnaire_version", "answers", "region_code",
    "municipality_code", "sex", "birth_year", "age_years", "onset_date", "onset_week"})
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# How many times a submission refused by a unique key (or, on SQLite, by a writer that committed first) looks
# again for what the other request stored. Each refusal means another request committed meanwhile, so one more
# pass nearly always finds it; after these the request answers 503 "try again" (``Busy``), never 500.
LOOKING_PASSES = 5


class ProfileNotFound(LookupError):
    """No such profile for this account (also when it exists but belongs to someone else)."""


class SubmissionConflict(Exception):
    """The submission id was used before with different answers."""


class InvalidSubmissionId(ValueError):
    pass


class NotSignedIn(Exception):
    """The bearer session is unknown, expired or revoked."""


class WeekClosed(Exception):
    """The submission was for a week that is no longer the current one (a weekly link of a past week)."""


@dataclass(frozen=True)
class SubmissionResult:
    report_id: int
    week: dt.date
    revision: int
    replayed: bool
    # The profile's id, stratum and intake answers as read for the report (a row), for the caller's advice.
    profile: Any = field(compare=False, repr=False)
    region_code: int | None = None


def local_today(now: dt.datetime | None = None) -> dt.date:
    """Today in the service's time zone (Europe/Copenhagen unless configured otherwise)."""
    zone = ZoneInfo(current_app.config["COVIDMETER_TIMEZONE"])
    return (now or utcnow()).astimezone(zone).date()


def current_week(now: dt.datetime | None = None) -> dt.date:
    return monday_of(local_today(now))


def owned_profile(account_id: int, profile_id: str) -> Profile:
    profile = db.session.scalar(select(Profile).where(Profile.id == profile_id, Profile.account_id == account_id))
    if profile is None:
        raise ProfileNotFound(profile_id)
    return profile


def by_key(profile_id: Any, week: Any) -> tuple[Any, ...]:
    """The report of ``profile_id`` (a value or a column) for ``week``, as conditions that only the
    ``(profile_id, week)`` key can serve: the equality, and the row ``(profile_id, week)`` between
    ``(profile_id, week)`` and itself. With the plain ``profile_id = p AND week = w`` a plan made while
    ``weekly_reports`` is empty or unanalysed (psycopg prepares a statement after five executions and the server
    keeps a generic plan) can start from a week index and read the whole week on every call for the life of the
    connection; a row comparison is an index condition of that key only (issue 12, fault 6; the triggers use the
    same shape, reporting/reports/season_ordinal.py)."""
    row = tuple_(WeeklyReport.profile_id, WeeklyReport.week)
    key = tuple_(profile_id, week)
    return WeeklyReport.profile_id == profile_id, row >= key, row <= key


def report_for_week(account_id: int, profile_id: str, week: dt.date) -> WeeklyReport | None:
    """This week's report of one of the account's own profiles (to fill the form in again)."""
    owned_profile(account_id, profile_id)
    return db.session.scalar(select(WeeklyReport).where(*by_key(profile_id, week)))


def reported_profiles(account_id: int, week: dt.date) -> set[str]:
    """Ids of the account's profiles that have a report for ``week`` (each by its key)."""
    return set(db.session.scalars(
        select(WeeklyReport.profile_id).join(Profile, Profile.id == WeeklyReport.profile_id)
        .where(Profile.account_id == account_id, *by_key(Profile.id, week))))


def body_hash(profile_id: str, questionnaire: Questionnaire, answers: Mapping[str, Any]) -> str:
    canonical = json.dumps({"profile": profile_id, "questionnaire": questionnaire.id, "answers": answers},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def submit_report(*, profile_id: str, submission_id: str, questionnaire: Questionnaire, answers: Mapping[str, Any],
                  account_id: int | None = None, session_hash: str | None = None, now: dt.datetime | None = None,
                  only_week: dt.date | None = None) -> SubmissionResult:
    """Store validated answers for ``profile_id`` in the current week (see the module docstring).

    Who submits is either ``account_id`` (a signed-in web session, authenticated already) or ``session_hash``
    (the SHA-256 of a citizen API bearer token, authenticated here: ``NotSignedIn`` unless the session is
    live). With a session on PostgreSQL the common case, the week's first report under a new submission id,
    is one autocommit statement that checks the session and the profile's owner and writes the report and
    its submission id (``_first_report_for_session``); anything else takes the general path.

    ``only_week`` (a weekly link's week) refuses with ``WeekClosed`` when the current week is another."""
    if (account_id is None) == (session_hash is None):
        raise TypeError("give exactly one of account_id and session_hash")
    if not SUBMISSION_ID.match(submission_id or ""):
        raise InvalidSubmissionId(submission_id)
    now = now or utcnow()
    if only_week is not None and current_week(now) != only_week:
        raise WeekClosed(only_week)
    digest = body_hash(profile_id, questionnaire, answers)
    passes = [False] * LOOKING_PASSES
    if session_hash is not None:
        if db.engine.dialect.name == "postgresql":
            try:
                return _first_report_for_session(session_hash, profile_id, submission_id, questionnaire, answers,
                                                 digest, now)
            except db.engine.dialect.loaded_dbapi.IntegrityError:
                pass  # the week has a report or the id was used: the general path looks
        else:
            passes.insert(0, True)
        account_id = db.session.connection().execute(
            _LIVE_SESSION, {"session_hash": session_hash, "now": now}).scalar_one_or_none()
        if account_id is None:
            db.session.rollback()
            raise NotSignedIn()
    else:
        passes.insert(0, True)
    for attempt, first_try in enumerate(passes):
        try:
            # First optimistically (a new submission id, the common case: no look-up of earlier submissions);
            # if the id or the week is taken, the unique keys refuse it and the next pass looks. A looking pass
            # is refused too when a concurrent request with the same id (or for the same week) committed while
            # this one waited for the report's row: then the next pass finds what that one stored.
            result = _submit(account_id, profile_id, submission_id, questionnaire, answers, digest, now,
                             look_for_previous=not first_try)
            db.session.commit()
            return result
        except (IntegrityError, OperationalError) as exc:
            db.session.rollback()
            if isinstance(exc, OperationalError) and not sqlite_snapshot_busy(exc):
                raise
            if attempt == len(passes) - 1:
                raise Busy("the report's week kept changing under this submission") from exc
    raise AssertionError("unreachable")


class ProfileStratum(NamedTuple):
    """The profile as read for its report (what the caller needs for the answer's advice)."""

    id: str
    municipality_code: int
    sex: str
    birth_year: int
    intake_answers: dict[str, Any]
    region_code: int


def _first_report_for_session(session_hash: str, profile_id: str, submission_id: str, questionnaire: Questionnaire,
                              answers: Mapping[str, Any], digest: str, now: dt.datetime) -> SubmissionResult:
    """The citizen API's common case on PostgreSQL: one autocommit statement (its own transaction, durable
    when it returns), shared with the reports other requests of this process hand in at the same moment
    (``group_commit``), checks the live session's account and that the profile is that account's, and
    writes the week's first report with the profile's stratum and its submission id. ``NotSignedIn`` or
    ``ProfileNotFound`` when the session or the profile is not there (nothing is written); the driver's
    ``IntegrityError`` when the week has a report already or the submission id was used (nothing is written:
    the general path then looks)."""
    report, week = _first_report_parameters(session_hash, profile_id, questionnaire, answers, submission_id, digest,
                                            now)
    writer = _group_commit()
    session_account_id, report_id, *profile = (writer.write(report) if writer is not None
                                               else group_commit.write_now(db.engine, [report])[0])
    if session_account_id is None:
        raise NotSignedIn()
    if report_id is None:
        raise ProfileNotFound(profile_id)
    stratum = ProfileStratum(*profile)
    return SubmissionResult(report_id, week, 1, replayed=False, profile=stratum, region_code=stratum.region_code)


def _group_commit() -> group_commit.GroupCommit | None:
    """This app's writer of grouped reports (None when COVIDMETER_REPORT_BATCH_MAX is 1: each on its own)."""
    extensions = current_app.extensions
    writer = extensions.get("covidmeter.report_writer")
    if writer is None:
        batch = current_app.config["COVIDMETER_REPORT_BATCH_MAX"]
        if batch <= 1:
            return None
        writer = extensions.setdefault("covidmeter.report_writer", group_commit.GroupCommit(db.engine, batch))
    return writer


def _submit(account_id: int, profile_id: str, submission_id: str, questionnaire: Questionnaire,
            answers: Mapping[str, Any], digest: str, now: dt.datetime, look_for_previous: bool) -> SubmissionResult:
    connection = db.session.connection()
    if not look_for_previous and connection.dialect.name == "postgresql":
        return _insert_new_postgresql(connection, account_id, profile_id, submission_id, questionnaire, answers,
                                      digest, now)
    # The profile's stratum and its region in one query (record-level authorisation: only the account's own).
    profile = connection.execute(_PROFILE_FOR_REPORT, {"profile_id": profile_id,
                                                       "account_id": account_id}).one_or_none()
    if profile is None:
        raise ProfileNotFound(profile_id)
    if not look_for_previous:
        return _insert_new(connection, profile, submission_id, questionnaire, answers, digest, now)
    previous = db.session.get(ReportSubmission, submission_id)
    if previous is not None:
        report = db.session.get(WeeklyReport, previous.report_id)
        if report is None or report.profile_id != profile.id or previous.body_hash != digest:
            raise SubmissionConflict(submission_id)
        return SubmissionResult(report.id, report.week, previous.revision, replayed=True, profile=profile,
                                region_code=report.region_code)

    values = _report_values(questionnaire, answers, now)
    week = values.pop("week")
    values.update(_stratum(profile, week))
    report = db.session.scalar(
        select(WeeklyReport).where(*by_key(profile.id, week))
        .with_for_update())
    if report is None:
        report = WeeklyReport(profile_id=profile.id, week=week)
        db.session.add(report)
    else:
        db.session.add(ReportRevision(report_id=report.id, revision=report.revision,
                                      submitted_at=report.submitted_at,
                                      questionnaire_version=report.questionnaire_version,
                                      answers=report.answers))
        values["revision"] = report.revision + 1
    for name, value in values.items():  # every answer column: a replaced answer set leaves nothing behind
        setattr(report, name, value)
    db.session.flush()
    db.session.add(ReportSubmission(submission_id=submission_id, report_id=report.id, body_hash=digest,
                                    revision=report.revision))
    db.session.flush()
    return SubmissionResult(report.id, week, report.revision, replayed=False, profile=profile,
                            region_code=report.region_code)


_PROFILE_FOR_REPORT = (
    select(Profile.id, Profile.municipality_code, Profile.sex, Profile.birth_year, Profile.intake_answers,
           Municipality.region_code)
    .join(Municipality, Municipality.code == Profile.municipality_code)
    .where(Profile.id == bindparam("profile_id"), Profile.account_id == bindparam("account_id")))


def _report_values(questionnaire: Questionnaire, answers: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The columns of a week's report (as revision 1) that come from the submission itself: the week, the
    answers and their typed columns (every answer column, reset where not answered), the onset. The person's
    stratum comes from the profile (``_stratum``; in SQL, ``group_commit.first_reports_sql``). Every path
    that writes a report builds it here."""
    report_day = local_today(now)
    values: dict[str, Any] = dict(_EMPTY_ANSWER_COLUMNS)
    values.update(to_columns(questionnaire, answers))
    onset = onset_date(report_day, values.get("fever_start"), values.get("symptom_start"))
    values.update(week=monday_of(report_day), submitted_at=now, revision=1, questionnaire_version=questionnaire.id,
                  answers=dict(answers), onset_date=onset, onset_week=monday_of(onset))
    return values


def _stratum(profile: Any, week: dt.date) -> dict[str, Any]:
    """The person's stratum of a report in ``week``, copied from the profile as read for it
    (``_PROFILE_FOR_REPORT``)."""
    return dict(region_code=profile.region_code, municipality_code=profile.municipality_code, sex=profile.sex,
                birth_year=profile.birth_year, age_years=age_in_week(profile.birth_year, week))


def _insert_new(connection: Connection, profile: Any, submission_id: str, questionnaire: Questionnaire,
                answers: Mapping[str, Any], digest: str, now: dt.datetime) -> SubmissionResult:
    """The common case on SQLite: the first report of the week under a new submission id, written with Core
    INSERTs whose statements are built once (parameters are bound, not re-coerced per request). If the week
    already has a report or the id was used, a unique key refuses it and ``submit_report`` takes the general
    path. (On PostgreSQL one statement does all of it: ``_insert_new_postgresql``.)"""
    values = _report_values(questionnaire, answers, now)
    week = values["week"]
    values.update(profile_id=profile.id, **_stratum(profile, week))
    report_id = connection.execute(_INSERT_REPORT, values).scalar_one()
    connection.execute(_INSERT_SUBMISSION, {"submission_id": submission_id, "report_id": report_id,
                                            "body_hash": digest, "revision": 1, "created_at": now})
    return SubmissionResult(report_id, week, 1, replayed=False, profile=profile, region_code=profile.region_code)


# Every answer column of a report, reset: False for flags, NULL for the rest.
_EMPTY_ANSWER_COLUMNS = {
    column.name: (False if column.type.python_type is bool else None)
    for column in WeeklyReport.__table__.columns if column.name not in NOT_ANSWER_COLUMNS}


def _statements() -> tuple[Any, Any]:
    reports_table, submissions = WeeklyReport.__table__, ReportSubmission.__table__
    columns = [c for c in reports_table.columns if c.name != "id"]
    insert_report = (insert(reports_table).values({c.name: bindparam(c.name, type_=c.type) for c in columns})
                     .returning(reports_table.c.id))
    return insert_report, insert(submissions)


_INSERT_REPORT, _INSERT_SUBMISSION = _statements()


def _insert_new_postgresql(connection: Connection, account_id: int, profile_id: str, submission_id: str,
                           questionnaire: Questionnaire, answers: Mapping[str, Any], digest: str,
                           now: dt.datetime) -> SubmissionResult:
    """The common case on PostgreSQL for a signed-in web session, in one statement and one round trip of the
    session's transaction (``group_commit.first_reports_sql`` for one report): read the profile (only the
    account's own: no report means ``ProfileNotFound``), write the week's first report with the profile's
    stratum, and its submission id. If the week already has a report or the id was used, a unique key
    refuses it and ``submit_report`` takes the general path."""
    report, week = _first_report_parameters(account_id, profile_id, questionnaire, answers, submission_id, digest,
                                            now)
    _, report_id, *profile = connection.exec_driver_sql(group_commit.first_reports_sql(1, "account"),
                                                        report).one()
    if report_id is None:
        raise ProfileNotFound(profile_id)
    stratum = ProfileStratum(*profile)
    return SubmissionResult(report_id, week, 1, replayed=False, profile=stratum, region_code=stratum.region_code)


def _first_report_parameters(owner: int | str, profile_id: str, questionnaire: Questionnaire,
                             answers: Mapping[str, Any], submission_id: str, digest: str,
                             now: dt.datetime) -> tuple[tuple[Any, ...], dt.date]:
    """One report for ``group_commit.first_reports_sql`` (in its ``FIELDS`` order), and its week."""
    values = _report_values(questionnaire, answers, now)
    week = values["week"]
    return (owner, profile_id, iso_year(week), json.dumps(values, default=_json_value, separators=(",", ":")),
            submission_id, digest, now), week


def _json_value(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_LIVE_SESSION = live_citizen_session(bindparam("session_hash"), bindparam("now"))


@dataclass(frozen=True)
class HistoryEntry:
    week: dt.date
    submitted_at: dt.datetime
    revision: int
    no_symptoms: bool
    symptoms: tuple[str, ...]
    questionnaire_version: str


def history(account_id: int, limit_weeks: int = 104) -> dict[str, list[HistoryEntry]]:
    """Each of the account's profiles -> its reports, newest week first (the account's own data only)."""
    rows = db.session.scalars(
        select(WeeklyReport).join(Profile, Profile.id == WeeklyReport.profile_id)
        .where(Profile.account_id == account_id)
        .order_by(WeeklyReport.week.desc())).all()
    out: dict[str, list[HistoryEntry]] = {}
    for row in rows:
        entries = out.setdefault(row.profile_id, [])
        if len(entries) >= limit_weeks:
            continue
        entries.append(HistoryEntry(row.week, row.submitted_at, row.revision, row.no_symptoms,
                                    tuple(s for s in SYMPTOMS if getattr(row, s)), row.questionnaire_version))
    db.session.rollback()
    return out
