"""The weekly link: a narrow capability mailed with the reminder.

It may submit reports for its account's profiles in its ISO week, and nothing else: it shows no stored
data (no history, no earlier answers, no e-mail address) and does not log in. It is a ``login_tokens`` row
with purpose ``weekly`` and the week's Monday, stored hashed, valid until the week ends (Sunday midnight in
Europe/Copenhagen); unlike login links it may be used several times in its week (one mail lists a link
for every profile, and the household can be reported in several sittings). Reading history, exporting
or deleting data needs a full login.

"Nobody in my household was ill this week" writes a no-symptoms report for every profile that has no
report yet this week (a report already given is never overwritten), with a submission id derived from the
link and the profile, so a repeated or simultaneous POST stores each report once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from .. import audit
from ..extensions import db
from ..models import Account, LoginToken, Profile, WeeklyReport, utcnow
from ..questionnaire import Questionnaire
from ..security import Principal, hash_secret, new_secret
from . import service

NOBODY_ILL_ANSWERS = {"symptoms": ["none"]}


class WeeklyLinkNotValid(Exception):
    """Unknown link, or its week is over."""


@dataclass(frozen=True)
class ProfileChoice:
    id: str
    relation: str
    display_name: str | None
    reported: bool


@dataclass(frozen=True)
class WeeklyCapability:
    account_id: int
    week: dt.date
    language: str
    profiles: tuple[ProfileChoice, ...]

    @property
    def principal(self) -> Principal:
        return Principal("weekly_link", account_id=self.account_id)

    def profile(self, profile_id: str) -> ProfileChoice:
        for profile in self.profiles:
            if profile.id == profile_id:
                return profile
        raise service.ProfileNotFound(profile_id)


def week_ends_at(monday: dt.date) -> dt.datetime:
    """The moment the ISO week of ``monday`` ends (next Monday 00:00 local), as UTC."""
    zone = ZoneInfo(current_app.config["COVIDMETER_TIMEZONE"])
    return dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), zone).astimezone(dt.timezone.utc)


def issue(account: Account, week: dt.date) -> str:
    """A new weekly link for ``account`` and ``week`` (the caller commits)."""
    secret = new_secret()
    db.session.add(LoginToken(token_hash=hash_secret(secret), account=account, purpose="weekly", week=week,
                              expires_at=week_ends_at(week)))
    return secret


def capability(secret: str, now: dt.datetime | None = None) -> WeeklyCapability:
    """What a weekly link allows now; raises WeeklyLinkNotValid. Reveals only the profiles' labels and
    whether each has reported this week."""
    now = now or utcnow()
    row = db.session.execute(
        select(LoginToken.account_id, LoginToken.week, Account.language)
        .join(Account, Account.id == LoginToken.account_id)
        .where(LoginToken.token_hash == hash_secret(secret or ""), LoginToken.purpose == "weekly",
               LoginToken.expires_at > now, Account.status == "active")).one_or_none()
    if row is None or row.week != service.current_week(now):
        db.session.rollback()
        raise WeeklyLinkNotValid()
    profiles = db.session.scalars(select(Profile).where(Profile.account_id == row.account_id)
                                  .order_by(Profile.created_at, Profile.id)).all()
    reported = service.reported_profiles(row.account_id, row.week)
    result = WeeklyCapability(row.account_id, row.week, row.language, tuple(
        ProfileChoice(p.id, p.relation, p.display_name, p.id in reported) for p in profiles))
    db.session.rollback()
    return result


def submit(secret: str, profile_id: str, *, submission_id: str, questionnaire: Questionnaire,
           answers: dict, now: dt.datetime | None = None) -> service.SubmissionResult:
    """A report through the weekly link: only for its account's profiles and only in its week."""
    now = now or utcnow()
    cap = capability(secret, now)
    cap.profile(profile_id)
    return service.submit_report(account_id=cap.account_id, profile_id=profile_id, submission_id=submission_id,
                                 questionnaire=questionnaire, answers=answers, now=now, only_week=cap.week)


def nobody_ill(secret: str, questionnaire: Questionnaire, now: dt.datetime | None = None) -> list[ProfileChoice]:
    """Report "no symptoms" for every profile without a report this week; returns the profiles written."""
    now = now or utcnow()
    cap = capability(secret, now)
    token_hash = hash_secret(secret)
    written = []
    for profile in cap.profiles:
        if profile.reported:
            continue
        submission_id = "none-" + hashlib.sha256(f"{token_hash}:{profile.id}".encode()).hexdigest()[:40]
        existing = db.session.scalar(select(WeeklyReport.id).where(*service.by_key(profile.id, cap.week)))
        db.session.rollback()
        if existing is not None:
            continue
        result = service.submit_report(account_id=cap.account_id, profile_id=profile.id,
                                       submission_id=submission_id, questionnaire=questionnaire,
                                       answers=dict(NOBODY_ILL_ANSWERS), now=now, only_week=cap.week)
        if not result.replayed:
            written.append(profile)
    audit.citizen(cap.account_id, "report.nobody_ill", principal=cap.principal, profiles=len(written))
    db.session.commit()
    return written
