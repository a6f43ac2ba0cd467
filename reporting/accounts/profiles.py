"""The people an account reports for: the account holder's own profile and relatives (a child, a parent,
a partner, someone else). Each profile answers the intake questionnaire, which can be edited later, and
reports separately. Record-level authorisation: every function takes the account id and finds profiles
only among that account's own (another account's profile id is "not found").

Each public function is one transaction and commits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select

from .. import audit
from ..extensions import db
from ..models import RELATIONS, Municipality, Profile, WeeklyReport, utcnow
from ..questionnaire import Questionnaire, to_columns

# Relations a profile added later may have ("self" is the account holder, made at sign-up).
RELATIVE_RELATIONS = tuple(r for r in RELATIONS if r != "self")
MAX_PROFILES = 12
DISPLAY_NAME_LENGTH = 40


class ProfileNotFound(LookupError):
    """No such profile for this account."""


class ProfileRefused(ValueError):
    """The change is not allowed (the message says why, for the user)."""


def clean_display_name(name: str | None) -> str | None:
    name = " ".join((name or "").split())
    return name[:DISPLAY_NAME_LENGTH] or None


def _owned(account_id: int, profile_id: str) -> Profile:
    profile = db.session.scalar(select(Profile).where(Profile.id == profile_id, Profile.account_id == account_id))
    if profile is None:
        raise ProfileNotFound(profile_id)
    return profile


def profile_of(account_id: int, profile_id: str) -> Profile:
    """One of the account's profiles (read-only use)."""
    profile = _owned(account_id, profile_id)
    db.session.rollback()
    return profile


def _apply_intake(profile: Profile, intake: Questionnaire, answers: Mapping[str, Any]) -> None:
    columns = to_columns(intake, answers)
    if db.session.get(Municipality, columns["municipality_code"]) is None:
        raise ValueError("unknown municipality")  # validated by the questionnaire before this
    for name, value in columns.items():
        setattr(profile, name, value)
    profile.intake_version = intake.id
    profile.intake_answers = dict(answers)


def add_profile(account_id: int, *, relation: str, display_name: str | None, intake: Questionnaire,
                answers: Mapping[str, Any]) -> Profile:
    """Add someone the account holder reports for (validated intake answers)."""
    if relation not in RELATIVE_RELATIONS:
        raise ValueError(f"relation must be one of {RELATIVE_RELATIONS}")
    count = db.session.scalar(select(func.count()).select_from(Profile).where(Profile.account_id == account_id))
    if count >= MAX_PROFILES:
        db.session.rollback()
        raise ProfileRefused(str(MAX_PROFILES))
    profile = Profile(account_id=account_id, relation=relation, display_name=clean_display_name(display_name),
                      intake_version=intake.id, intake_answers={}, birth_year=0, sex="other",
                      municipality_code=0)
    _apply_intake(profile, intake, answers)
    db.session.add(profile)
    db.session.flush()
    audit.citizen(account_id, "profile.added", relation=relation)
    db.session.commit()
    return profile


def update_profile(account_id: int, profile_id: str, *, intake: Questionnaire, answers: Mapping[str, Any],
                   display_name: str | None = None) -> Profile:
    """Replace a profile's intake answers (reports already given keep the stratum they were given with)."""
    profile = _owned(account_id, profile_id)
    _apply_intake(profile, intake, answers)
    if profile.relation != "self":
        profile.display_name = clean_display_name(display_name)
    profile.updated_at = utcnow()
    audit.citizen(account_id, "profile.updated")
    db.session.commit()
    return profile


def delete_profile(account_id: int, profile_id: str) -> int:
    """Delete a relative's profile and every report given for them; returns how many reports went.
    The account holder's own profile goes only with the whole account (withdrawal)."""
    profile = _owned(account_id, profile_id)
    if profile.relation == "self":
        db.session.rollback()
        raise ProfileRefused("self")
    reports = db.session.scalar(select(func.count()).select_from(WeeklyReport)
                                .where(WeeklyReport.profile_id == profile.id))
    db.session.execute(delete(WeeklyReport).where(WeeklyReport.profile_id == profile.id))
    db.session.delete(profile)
    audit.citizen(account_id, "profile.deleted", reports_deleted=reports)
    db.session.commit()
    return reports
