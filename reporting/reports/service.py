"""Weekly reports: one row per profile per ISO week, written in one transaction.

``submit_report`` is the only way a report is written. It

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
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import SmallInteger, bindparam, insert, literal, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Municipality, Profile, ReportRevision, ReportSubmission, WeeklyReport, utcnow
from ..questionnaire import Questionnaire, to_columns
from ..weeks import iso_year, monday_of, onset_date

# Columns of weekly_reports that are not answers (everything else is written from the answers).
NOT_ANSWER_COLUMNS = frozenset({
    "id", "profile_id", "week", "submitted_at", "revision", "questionnaire_version", "answers", "region_code",
    "municipality_code", "sex", "birth_year", "age_years", "onset_date", "onset_week"})
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ProfileNotFound(LookupError):
    """No such profile for this account (also when it exists but belongs to someone else)."""


class SubmissionConflict(Exception):
    """The submission id was used before with different answers."""


class InvalidSubmissionId(ValueError):
    pass


class WeekClosed(Exception):
    """The submission was for a week that is no longer the current one (a weekly link of a past week)."""


@dataclass(frozen=True)
class SubmissionResult:
    report_id: int
    week: dt.date
    revision: int
    replayed: bool
    # The profile's id, stratum and intake answers as read for the report (a row), for the caller.
    profile: Any = field(default=None, compare=False, repr=False)
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


def report_for_week(account_id: int, profile_id: str, week: dt.date) -> WeeklyReport | None:
    """This week's report of one of the account's own profiles (to fill the form in again)."""
    owned_profile(account_id, profile_id)
    return db.session.scalar(select(WeeklyReport).where(WeeklyReport.profile_id == profile_id,
                                                        WeeklyReport.week == week))


def reported_profiles(account_id: int, week: dt.date) -> set[str]:
    """Ids of the account's profiles that have a report for ``week``."""
    return set(db.session.scalars(
        select(WeeklyReport.profile_id).join(Profile, Profile.id == WeeklyReport.profile_id)
        .where(Profile.account_id == account_id, WeeklyReport.week == week)))


def body_hash(profile_id: str, questionnaire: Questionnaire, answers: Mapping[str, Any]) -> str:
    canonical = json.dumps({"profile": profile_id, "questionnaire": questionnaire.id, "answers": answers},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def submit_report(*, account_id: int, profile_id: str, submission_id: str, questionnaire: Questionnaire,
                  answers: Mapping[str, Any], now: dt.datetime | None = None,
                  only_week: dt.date | None = None) -> SubmissionResult:
    """Store validated answers for ``profile_id`` in the current week (see the module docstring).

    ``only_week`` (a weekly link's week) refuses with ``WeekClosed`` when the current week is another."""
    if not SUBMISSION_ID.match(submission_id or ""):
        raise InvalidSubmissionId(submission_id)
    now = now or utcnow()
    if only_week is not None and current_week(now) != only_week:
        raise WeekClosed(only_week)
    digest = body_hash(profile_id, questionnaire, answers)
    for attempt in range(2):
        try:
            # First optimistically (a new submission id, the common case: no look-up of earlier submissions);
            # if the id or the week is taken, the unique keys refuse it and the second attempt looks.
            result = _submit(account_id, profile_id, submission_id, questionnaire, answers, digest, now,
                             look_for_previous=attempt == 1)
            db.session.commit()
            return result
        except IntegrityError:
            # The submission id was used before, or a concurrent request stored the same week first.
            db.session.rollback()
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _submit(account_id: int, profile_id: str, submission_id: str, questionnaire: Questionnaire,
            answers: Mapping[str, Any], digest: str, now: dt.datetime, look_for_previous: bool) -> SubmissionResult:
    # The profile's stratum and its region in one query (record-level authorisation: only the account's own).
    profile = db.session.connection().execute(_PROFILE_FOR_REPORT, {"profile_id": profile_id,
                                                                    "account_id": account_id}).one_or_none()
    if profile is None:
        raise ProfileNotFound(profile_id)
    region_code = profile.region_code
    if not look_for_previous:
        return _insert_new(profile, region_code, submission_id, questionnaire, answers, digest, now)
    previous = db.session.get(ReportSubmission, submission_id)
    if previous is not None:
        report = db.session.get(WeeklyReport, previous.report_id)
        if report is None or report.profile_id != profile.id or previous.body_hash != digest:
            raise SubmissionConflict(submission_id)
        return SubmissionResult(report.id, report.week, previous.revision, replayed=True, profile=profile,
                                region_code=report.region_code)

    report_day = local_today(now)
    week = monday_of(report_day)
    report = db.session.scalar(
        select(WeeklyReport).where(WeeklyReport.profile_id == profile.id, WeeklyReport.week == week)
        .with_for_update())
    new = report is None
    if report is None:
        report = WeeklyReport(profile_id=profile.id, week=week, revision=1)
    else:
        db.session.add(ReportRevision(report_id=report.id, revision=report.revision,
                                      submitted_at=report.submitted_at,
                                      questionnaire_version=report.questionnaire_version,
                                      answers=report.answers))
        report.revision += 1

    report.submitted_at = now
    report.questionnaire_version = questionnaire.id
    report.answers = dict(answers)
    report.region_code = region_code
    report.municipality_code = profile.municipality_code
    report.sex = profile.sex
    report.birth_year = profile.birth_year
    report.age_years = iso_year(week) - profile.birth_year
    for column in WeeklyReport.__table__.columns:  # a replaced answer set leaves nothing of the old one behind
        if column.name not in NOT_ANSWER_COLUMNS:
            setattr(report, column.name, False if column.type.python_type is bool else None)
    for name, value in to_columns(questionnaire, answers).items():
        setattr(report, name, value)
    report.onset_date = onset_date(report_day, report.fever_start, report.symptom_start)
    report.onset_week = monday_of(report.onset_date)
    if new:
        db.session.add(report)
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


def _insert_new(profile: Any, region_code: int, submission_id: str, questionnaire: Questionnaire,
                answers: Mapping[str, Any], digest: str, now: dt.datetime) -> SubmissionResult:
    """The common case, as few round trips as possible: the first report of the week under a new submission
    id, written with Core INSERTs whose statements are built once (parameters are bound, not re-coerced per
    request), on PostgreSQL as one statement (the report and its submission id together, by a
    data-modifying CTE). If the week already has a report or the id was used, a unique key refuses it and
    ``submit_report`` takes the general path."""
    report_day = local_today(now)
    week = monday_of(report_day)
    values: dict[str, Any] = dict(_EMPTY_ANSWER_COLUMNS)
    values.update(to_columns(questionnaire, answers))
    onset = onset_date(report_day, values.get("fever_start"), values.get("symptom_start"))
    values.update(profile_id=profile.id, week=week, submitted_at=now, revision=1,
                  questionnaire_version=questionnaire.id, answers=dict(answers), region_code=region_code,
                  municipality_code=profile.municipality_code, sex=profile.sex, birth_year=profile.birth_year,
                  age_years=iso_year(week) - profile.birth_year, onset_date=onset, onset_week=monday_of(onset))
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        report_id = connection.execute(_INSERT_REPORT_AND_SUBMISSION, {
            **values, "s_submission_id": submission_id, "s_body_hash": digest, "s_created_at": now}).scalar_one()
    else:
        report_id = connection.execute(_INSERT_REPORT, values).scalar_one()
        connection.execute(_INSERT_SUBMISSION, {"submission_id": submission_id, "report_id": report_id,
                                                "body_hash": digest, "revision": 1, "created_at": now})
    return SubmissionResult(report_id, week, 1, replayed=False, profile=profile, region_code=region_code)


# Every answer column of a report, reset: False for flags, NULL for the rest.
_EMPTY_ANSWER_COLUMNS = {
    column.name: (False if column.type.python_type is bool else None)
    for column in WeeklyReport.__table__.columns if column.name not in NOT_ANSWER_COLUMNS}


def _statements() -> tuple[Any, Any, Any]:
    reports_table, submissions = WeeklyReport.__table__, ReportSubmission.__table__
    columns = [c for c in reports_table.columns if c.name != "id"]
    insert_report = (insert(reports_table).values({c.name: bindparam(c.name, type_=c.type) for c in columns})
                     .returning(reports_table.c.id))
    insert_submission = insert(submissions)
    created = insert_report.cte("new_report")
    both = (insert(submissions).from_select(
        ["submission_id", "report_id", "body_hash", "revision", "created_at"],
        select(bindparam("s_submission_id", type_=submissions.c.submission_id.type), created.c.id,
               bindparam("s_body_hash", type_=submissions.c.body_hash.type), literal(1, SmallInteger),
               bindparam("s_created_at", type_=submissions.c.created_at.type)))
        .returning(submissions.c.report_id))
    return insert_report, insert_submission, both


_INSERT_REPORT, _INSERT_SUBMISSION, _INSERT_REPORT_AND_SUBMISSION = _statements()


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
    from ..symptoms import SYMPTOMS

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
