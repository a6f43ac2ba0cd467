"""The ``store`` mapping: from answers (JSON) to the typed columns of the target model.

    "store": {"flags": true}                      multi: each option's ``column`` is True when chosen,
                                                  False otherwise (also when the question was skipped)
    "store": {"column": "sex"}                    the answer itself (dates become ``datetime.date``)
    "store": {"column": "tested",                 the answer through a value map; a value missing
              "values": {"no": "none", ...}}      from the map is refused (a definition error)

Columns of questions that were skipped or left empty are None, so a resubmission that drops a follow-up
question also clears its column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .conditions import DefinitionError
from .definition import Questionnaire

DATE_TYPES = ("date",)


def columns(questionnaire: Questionnaire) -> list[str]:
    """Every column the definition writes (for checks, and to reset a replaced answer set)."""
    names: list[str] = []
    for question in questionnaire.questions:
        store = question.store
        if not store:
            continue
        if store.get("flags"):
            names.extend(o.column for o in question.options() if o.column)
        else:
            names.append(store["column"])
    return names


def to_columns(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The typed column values for a validated answer set."""
    values: dict[str, Any] = {}
    for question in questionnaire.questions:
        store = question.store
        if not store:
            continue
        answer = answers.get(question.key)
        if store.get("flags"):
            chosen = {str(v) for v in (answer or [])}
            for option in question.options():
                values[option.column] = option.form_value in chosen  # type: ignore[index]
            continue
        if answer is None:
            values[store["column"]] = None
            continue
        if "values" in store:
            if str(answer) not in store["values"]:
                raise DefinitionError(f"{questionnaire.id} question {question.key!r}: no stored value for {answer!r}")
            answer = store["values"][str(answer)]
        elif question.type in DATE_TYPES:
            answer = dt.date.fromisoformat(answer)
        values[store["column"]] = answer
    return values


def answers_to_form(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> dict[str, list[str]]:
    """Stored answers in the shape the form macros show (to fill the form in again)."""
    form: dict[str, list[str]] = {}
    for question in questionnaire.questions:
        answer = answers.get(question.key)
        if answer is None:
            form[question.key] = []
        elif isinstance(answer, list):
            form[question.key] = [str(v) for v in answer]
        else:
            form[question.key] = [str(answer)]
    return form
