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
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
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


@dataclass(frozen=True)
class SubmissionResult:
    report_id: int
    week: dt.date
    revision: int
    replayed: bool


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
                  answers: Mapping[str, Any], now: dt.datetime | None = None) -> SubmissionResult:
    """Store validated answers for ``profile_id`` in the current week (see the module docstring)."""
    if not SUBMISSION_ID.match(submission_id or ""):
        raise InvalidSubmissionId(submission_id)
    now = now or utcnow()
    digest = body_hash(profile_id, questionnaire, answers)
    for attempt in range(2):
        try:
            result = _submit(account_id, profile_id, submission_id, questionnaire, answers, digest, now)
            db.session.commit()
            return result
        except IntegrityError:
            # A concurrent request stored the same submission id or the same week first: look again.
            db.session.rollback()
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _submit(account_id: int, profile_id: str, submission_id: str, questionnaire: Questionnaire,
            answers: Mapping[str, Any], digest: str, now: dt.datetime) -> SubmissionResult:
    profile = owned_profile(account_id, profile_id)
    previous = db.session.get(ReportSubmission, submission_id)
    if previous is not None:
        report = db.session.get(WeeklyReport, previous.report_id)
        if report is None or report.profile_id != profile.id or previous.body_hash != digest:
            raise SubmissionConflict(submission_id)
        return SubmissionResult(report.id, report.week, previous.revision, replayed=True)

    municipality = db.session.get(Municipality, profile.municipality_code)
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
    report.region_code = municipality.region_code
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
    return SubmissionResult(report.id, week, report.revision, replayed=False)
