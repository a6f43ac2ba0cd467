"""Reading the citizen forms. Questionnaire questions are read by the questionnaire engine; the few
account fields (e-mail address, consent) are read here, and both give messages for one error summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from ..accounts.profiles import RELATIVE_RELATIONS
from ..accounts.service import CONSENT_VERSION, InvalidEmail, normalise_email
from ..questionnaire import Questionnaire, Result, validate


@dataclass
class SignUpForm:
    email: str = ""
    consent: bool = False
    intake: Result = field(default_factory=Result)
    errors: dict[str, str] = field(default_factory=dict)  # account fields: "email", "consent"

    @property
    def ok(self) -> bool:
        return not self.errors and self.intake.ok

    def summary(self, intake: Questionnaire) -> list[tuple[str, str]]:
        """(anchor id, message) in the order the fields appear on the page."""
        items = [("email", self.errors["email"])] if "email" in self.errors else []
        items += [(q.anchor, self.intake.errors[q.key]) for q in intake.questions if q.key in self.intake.errors]
        if "consent" in self.errors:
            items.append(("consent", self.errors["consent"]))
        return items


def read_sign_up(form: Any, intake: Questionnaire, *, lang: str, today: dt.date) -> SignUpForm:
    result = SignUpForm(email=(form.get("email") or "").strip(), consent=form.get("consent") == CONSENT_VERSION)
    if not result.email:
        result.errors["email"] = _("Enter your e-mail address.")
    else:
        try:
            normalise_email(result.email)
        except InvalidEmail as exc:
            result.errors["email"] = str(exc)
    if not result.consent:
        result.errors["consent"] = _("You must agree to the terms to take part.")
    result.intake = validate(intake, form, lang=lang, today=today, context={"relation": "self"})
    return result


def read_login(form: Any) -> tuple[str, str | None]:
    """The e-mail address and an error message (or None)."""
    email = (form.get("email") or "").strip()
    if not email:
        return email, _("Enter your e-mail address.")
    try:
        normalise_email(email)
    except InvalidEmail as exc:
        return email, str(exc)
    return email, None


def report_summary(questionnaire: Questionnaire, result: Result) -> list[tuple[str, str]]:
    return [(q.anchor, result.errors[q.key]) for q in questionnaire.questions if q.key in result.errors]


@dataclass
class ProfileForm:
    relation: str = ""
    display_name: str = ""
    intake: Result = field(default_factory=Result)
    errors: dict[str, str] = field(default_factory=dict)  # "relation"

    @property
    def ok(self) -> bool:
        return not self.errors and self.intake.ok

    def summary(self, intake: Questionnaire) -> list[tuple[str, str]]:
        items = [("relation", self.errors["relation"])] if "relation" in self.errors else []
        items += [(q.anchor, self.intake.errors[q.key]) for q in intake.questions if q.key in self.intake.errors]
        return items


def read_profile(form: Any, intake: Questionnaire, *, lang: str, today: dt.date, relation: str | None = None) -> ProfileForm:
    """A relative's profile (relation chosen in the form) or an existing profile (``relation`` given)."""
    chosen = relation or (form.get("relation") or "").strip()
    result = ProfileForm(relation=chosen, display_name=(form.get("display_name") or "").strip())
    if relation is None and chosen not in RELATIVE_RELATIONS:
        result.errors["relation"] = _("Choose who you will report for.")
    result.intake = validate(intake, form, lang=lang, today=today, context={"relation": chosen or "other"})
    return result


def read_email(form: Any) -> tuple[str, str | None]:
    return read_login(form)
