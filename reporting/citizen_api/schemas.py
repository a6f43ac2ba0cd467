"""The bodies the citizen API reads and writes, each declared once as a model: ``parse`` validates a request
body by its model and the OpenAPI document (``openapi.py``) is generated from the same models. The answers
themselves are checked by the questionnaire engine (``reporting.questionnaire.validate``), in the request's
language; a model only checks the body's shape and its other fields."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, EmailStr, Field, StrictInt, ValidationError

from ..accounts.profiles import DISPLAY_NAME_LENGTH, RELATIVE_RELATIONS
from ..apischema import UNSET
from ..i18n import LANGUAGES
from ..models import RELATIONS, SEXES
from ..problems import ProblemError
from ..reports.service import SUBMISSION_ID

B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class Refused:
    """How a body field is refused, with its message: 400 when it makes the body malformed (the first such
    field is named in ``detail``), 422 when its value is not one it takes (every such field in ``errors``)."""

    status: int
    message: str


def invalid(errors: dict[str, str]) -> ProblemError:
    return ProblemError(422, "Unprocessable Content", "Some answers are missing or not valid.", errors=errors)


def parse(model: type[B]) -> B:
    """The request's JSON body, validated by ``model`` (a problem document when refused)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProblemError(400, "Bad Request", "The body must be a JSON object (Content-Type: application/json).")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        failed = {error["loc"][0] for error in exc.errors()}
    refusals = [(name, refusal) for name, field in model.model_fields.items() if name in failed
                for refusal in field.metadata if isinstance(refusal, Refused)]
    errors = {name: refusal.message for name, refusal in refusals if refusal.status == 422}
    if errors:
        raise invalid(errors)
    raise ProblemError(400, "Bad Request", refusals[0][1].message)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _iso_date(value: object) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


Answers = Annotated[dict[str, Any], Field(
    description="question key -> answer, as the questionnaire definition says: a list of option values for "
                "'multi', one value for 'single'/'select', 'YYYY-MM-DD' for 'date', a whole number for "
                "'year'/'number'. Answers to questions whose condition is false are ignored.")]
GivenAnswers = Annotated[Answers, Refused(400, "'answers' must be an object: question key -> answer.")]
DisplayName = Annotated[str | None, BeforeValidator(_text_or_none), Field(
    description=f"Shown to you only; the first {DISPLAY_NAME_LENGTH} characters are kept.")]


# --- requests ------------------------------------------------------------------------------------------------

class LoginRequest(BaseModel):
    email: Annotated[str, Refused(400, "'email' must be a string.")]


class SessionRequest(BaseModel):
    token: Annotated[str, Field(min_length=1), Refused(400, "'token' must be the token from the login link.")]


class SettingsChange(BaseModel):
    """Only the fields given change."""

    language: Annotated[Literal[LANGUAGES], Refused(422, "one of: " + ", ".join(LANGUAGES))] = UNSET
    reminder_weekday: Annotated[StrictInt, Field(ge=0, le=6),
                                Refused(422, "a whole number from 0 (Monday) to 6 (Sunday)")] = UNSET
    reminders_paused_until: Annotated[dt.date | None, BeforeValidator(_iso_date),
                                      Refused(422, "a date (YYYY-MM-DD) or null")] = UNSET
    reminders: Annotated[Literal["on", "off"], Refused(422, "'on' or 'off'")] = UNSET


class NewProfile(BaseModel):
    relation: Annotated[Literal[RELATIVE_RELATIONS], Refused(422, "one of: " + ", ".join(RELATIVE_RELATIONS))]
    display_name: DisplayName = None
    answers: GivenAnswers


class ProfileChange(BaseModel):
    display_name: DisplayName = None
    answers: GivenAnswers


class NewReport(BaseModel):
    submission_id: Annotated[str, Field(pattern=SUBMISSION_ID), Refused(
        422, "16-64 characters of A-Z, a-z, 0-9, '_' or '-', new for each report")]
    answers: GivenAnswers


REQUESTS = (LoginRequest, SessionRequest, SettingsChange, NewProfile, ProfileChange, NewReport)


# --- responses -----------------------------------------------------------------------------------------------

class Sent(BaseModel):
    status: Literal["sent"]
    detail: str


class Session(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_at: dt.datetime


class Profile(BaseModel):
    id: str
    relation: Literal[RELATIONS]
    display_name: str | None
    birth_year: int
    sex: Literal[SEXES]
    municipality_code: int
    intake_version: str
    intake_answers: Answers
    reported_this_week: bool


class Reminders(BaseModel):
    weekday: Annotated[int, Field(ge=0, le=6)]
    paused_until: dt.date | None
    stopped: bool


class Me(BaseModel):
    email: EmailStr
    language: Literal[LANGUAGES]
    week: Annotated[str, Field(examples=["2026-W48"])]
    reminders: Reminders
    profiles: list[Profile]


class Advice(BaseModel):
    key: str
    level: Literal["urgent", "important", "info"]
    text: str


class Report(BaseModel):
    profile_id: str
    week: str
    revision: int
    replayed: Annotated[bool, Field(description="true when the submission_id was seen before with the same "
                                                "answers: nothing new was stored")]
    questionnaire_version: str
    answers: Answers
    advice: list[Advice]


class Questionnaire(BaseModel):
    """A questionnaire definition (reporting/questionnaires/*.json) with option sources expanded. Conditions
    use the grammar in docs/citizen-and-questionnaires.md."""

    id: str
    key: str
    version: int
    title: dict[str, str]
    questions: list[dict[str, Any]]


class PastReport(BaseModel):
    week: str
    submitted_at: dt.datetime
    revision: int
    questionnaire_version: str
    no_symptoms: bool
    symptoms: list[str]


class ProfileHistory(BaseModel):
    profile_id: str
    reports: list[PastReport]


class History(BaseModel):
    profiles: list[ProfileHistory]


RESPONSES = (Sent, Session, Me, Report, Questionnaire, History)
