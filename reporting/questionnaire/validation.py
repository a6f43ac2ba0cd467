"""Reading a submitted form against a definition: parse each answer by its type, apply the rules, and
return the answers (JSON-ready) with one message per field that is wrong, in the user's language.

Rules (in a question's ``rules`` list, checked in order; the first that fails gives the message):

    {"rule": "required"}                              an answer must be given
    {"rule": "min", "value": 1900}                    numbers and years; a bound may be
    {"rule": "max", "value": {"this_year_minus": 18}}   relative to the current year
    {"rule": "not_in_future"}                         dates: not after today
    {"rule": "max_days_back", "value": 60}            dates: not more than N days before today
    {"rule": "not_before", "value": "symptom_start"}  dates: not before another (earlier) date answer

Every rule may carry ``"when"`` (a condition, see ``conditions.py``; it may test the caller's context) and
``"message"`` (texts in da and en that replace the default message). A ``multi`` question with an
``exclusive`` option refuses that option combined with any other.

Questions whose display condition is false are skipped: whatever the form sent for them is ignored, so a
form that works without JavaScript (every question shown) gives the same answers as one with it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from . import conditions
from .definition import Question, Questionnaire, Rule, local

# ASCII digits only: \d alone also matches other scripts' digits (١٩٨٠), which nobody here types on purpose.
_DMY = re.compile(r"^(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})$", re.ASCII)


@dataclass
class Result:
    answers: dict[str, Any] = field(default_factory=dict)  # only questions asked and answered
    errors: dict[str, str] = field(default_factory=dict)  # question key -> message
    raw: dict[str, list[str]] = field(default_factory=dict)  # what was sent, for showing the form again

    @property
    def ok(self) -> bool:
        return not self.errors


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _getlist(form: Any, key: str) -> list[str]:
    if hasattr(form, "getlist"):
        values = form.getlist(key)
    else:
        value = form.get(key)
        values = [] if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])
    return [str(v).strip() for v in values if v is not None and str(v).strip() != ""]


def parse_date(text: str) -> dt.date:
    """ISO dates (what a date input sends) and Danish day-month-year (14-03-2026, 14.3.2026)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    match = _DMY.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass
    raise _Invalid(_("Enter a real date, for example %(example)s.", example="2026-03-14"))


def _bound(value: Any, today: dt.date) -> int:
    if isinstance(value, dict) and "this_year_minus" in value:
        return today.year - int(value["this_year_minus"])
    return int(value)


def validate(questionnaire: Questionnaire, form: Any, *, lang: str, today: dt.date,
             context: Mapping[str, Any] | None = None) -> Result:
    """Parse and check ``form`` (a MultiDict, or a dict of strings or lists) against the definition."""
    result = Result()
    typed: dict[str, Any] = {}  # parsed Python values (dates as dt.date) for rules across questions
    for question in questionnaire.questions:
        values = _getlist(form, question.key)
        result.raw[question.key] = values
        if not conditions.evaluate(question.condition, result.answers, context):
            continue
        try:
            value = _parse(question, values, lang)
            for rule in question.rules:
                if rule.when is not None and not conditions.evaluate(rule.when, result.answers, context):
                    continue
                _apply(rule, question, value, typed, today, lang)
        except _Invalid as invalid:
            result.errors[question.key] = invalid.message
            continue
        if value is None or value == []:
            continue
        typed[question.key] = value
        result.answers[question.key] = value.isoformat() if isinstance(value, dt.date) else value
    return result


def _parse(question: Question, values: list[str], lang: str) -> Any:
    if question.type == "multi":
        chosen = set(values)
        options = [o for o in question.options() if o.form_value in chosen]
        if len(options) != len(chosen):
            raise _Invalid(_("Choose from the options shown."))
        exclusive = [o for o in options if o.exclusive]
        if exclusive and len(options) > 1:
            raise _Invalid(_("“%(option)s” cannot be combined with other answers.",
                             option=exclusive[0].text(lang)))
        return [o.value for o in options]
    if not values:
        return None
    if len(set(values)) > 1:
        raise _Invalid(_("Choose only one answer."))
    text = values[0]
    if question.type in ("single", "select"):
        option = question.option(text)
        if option is None:
            raise _Invalid(_("Choose from the options shown."))
        return option.value
    if question.type == "date":
        return parse_date(text)
    # year, number
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", cleaned):
        if question.type == "year":
            raise _Invalid(_("Enter a year with four digits, for example 1980."))
        raise _Invalid(_("Enter a whole number."))
    return int(cleaned)


def _apply(rule: Rule, question: Question, value: Any, typed: Mapping[str, Any], today: dt.date, lang: str) -> None:
    custom = local(rule.message, lang) if rule.message else None

    def fail(default: str) -> None:
        raise _Invalid(custom or default)

    if rule.name == "required":
        if value is None or value == []:
            if question.type == "multi":
                fail(_("Choose at least one answer."))
            elif question.type in ("single", "select"):
                fail(_("Choose an answer."))
            elif question.type == "date":
                fail(_("Enter a date."))
            elif question.type == "year":
                fail(_("Enter a year, for example 1980."))
            else:
                fail(_("Enter a number."))
        return
    if value is None or value == []:
        return  # the other rules only judge answers that were given
    if rule.name in ("min", "max"):
        bound = _bound(rule.value, today)
        if rule.name == "min" and value < bound:
            fail(_("Enter a year no earlier than %(value)s.", value=bound) if question.type == "year"
                 else _("Enter a number of at least %(value)s.", value=bound))
        if rule.name == "max" and value > bound:
            fail(_("Enter a year no later than %(value)s.", value=bound) if question.type == "year"
                 else _("Enter a number no greater than %(value)s.", value=bound))
    elif rule.name == "not_in_future":
        if value > today:
            fail(_("The date cannot be in the future."))
    elif rule.name == "max_days_back":
        if value < today - dt.timedelta(days=int(rule.value)):
            fail(_("The date cannot be more than %(days)s days ago.", days=int(rule.value)))
    elif rule.name == "not_before":
        other = typed.get(rule.value)
        if other is not None and value < other:
            fail(_("The date cannot be before %(date)s.", date=format_date(other, "long")))
