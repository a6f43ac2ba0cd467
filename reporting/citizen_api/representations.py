"""JSON shapes of the citizen API (declared in schemas.py, which the OpenAPI document is generated from)."""

from __future__ import annotations

from typing import Any

from ..models import Profile
from ..questionnaire import Question, Questionnaire


def profile_json(profile: Profile, *, reported: bool) -> dict[str, Any]:
    return {"id": profile.id, "relation": profile.relation, "display_name": profile.display_name,
            "birth_year": profile.birth_year, "sex": profile.sex, "municipality_code": profile.municipality_code,
            "intake_version": profile.intake_version, "intake_answers": profile.intake_answers,
            "reported_this_week": reported}


def _question_json(question: Question) -> dict[str, Any]:
    body: dict[str, Any] = {"key": question.key, "type": question.type, "text": dict(question.label),
                            "optional": question.optional}
    if question.hint:
        body["hint"] = dict(question.hint)
    if question.condition is not None:
        body["condition"] = question.condition
    if question.is_choice:
        body["groups"] = [{"label": dict(group.label) if group.label else None,
                           "options": [{"value": o.value, "label": dict(o.label), "exclusive": o.exclusive}
                                       for o in group.options]} for group in question.groups()]
    if question.rules:
        body["rules"] = [{"rule": r.name, **({"value": r.value} if r.value is not None else {}),
                          **({"when": r.when} if r.when is not None else {})} for r in question.rules]
    return body


def questionnaire_json(questionnaire: Questionnaire) -> dict[str, Any]:
    """The definition as an app renders it (options from named sources expanded); the server validates."""
    return {"id": questionnaire.id, "key": questionnaire.key, "version": questionnaire.version,
            "title": dict(questionnaire.title), "questions": [_question_json(q) for q in questionnaire.questions]}
