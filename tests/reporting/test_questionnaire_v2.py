"""weekly-2 and intake-2 through the engine: the Menni et al. follow-ups, still ill -> end date, care sought
as flags, influenza test, days off (a number with bounds), vaccination, and intake questions guarded by
the person's relation (context) and by earlier answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from reporting.models import WeeklyReport
from reporting.questionnaire import columns, load, to_columns, validate

TODAY = dt.date(2026, 11, 26)
WEEKLY = load("weekly-2")
INTAKE = load("intake-2")


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Any:
    """Messages are gettext strings and municipalities come from the database: a request context."""
    with app.test_request_context("/"):
        yield


def check(q: Any, form: dict[str, Any], lang: str = "en", **context: Any) -> Any:
    from flask_babel import force_locale

    with force_locale(lang):
        return validate(q, MultiDict(form), lang=lang, today=TODAY, context=context)


def test_weekly_2_writes_real_columns_including_the_menni_inputs() -> None:
    model = set(WeeklyReport.__table__.columns.keys())
    assert set(columns(WEEKLY)) <= model
    assert {"persistent_cough", "severe_fatigue", "skipped_meals", "still_ill", "flu_tested", "flu_test_result",
            "care_gp", "care_hospital", "days_off", "vaccinated_season", "fever_sudden",
            "temperature_measured"} <= set(columns(WEEKLY))


def test_menni_follow_ups_are_asked_only_after_their_symptom() -> None:
    well = check(WEEKLY, {"symptoms": "none", "persistent_cough": "yes", "severe_fatigue": "yes"})
    assert well.ok and well.answers == {"symptoms": ["none"]}
    stored = to_columns(WEEKLY, well.answers)
    assert stored["persistent_cough"] is None and stored["severe_fatigue"] is None and stored["skipped_meals"] is None
    missing = check(WEEKLY, {"symptoms": ["cough", "tiredness", "loss_of_appetite"]})
    assert {"persistent_cough", "severe_fatigue", "skipped_meals"} <= set(missing.errors)
    ill = check(WEEKLY, {"symptoms": ["cough", "tiredness", "loss_of_appetite"], "persistent_cough": "yes",
                         "severe_fatigue": "no", "skipped_meals": "yes", "same_illness": "dont_know",
                         "symptom_start": "2026-11-20", "still_ill": "no", "symptom_end": "2026-11-24",
                         "sudden_onset": "no", "care": ["gp", "helpline"], "tested": "both",
                         "test_result": "waiting", "flu_tested": "yes", "flu_test_result": "negative",
                         "days_off": "3", "vaccinated_season": "dont_know"})
    assert ill.ok, ill.errors
    stored = to_columns(WEEKLY, ill.answers)
    assert (stored["persistent_cough"], stored["severe_fatigue"], stored["skipped_meals"]) == (True, False, True)
    assert stored["still_ill"] is False and stored["symptom_end"] == dt.date(2026, 11, 24)
    assert (stored["care_gp"], stored["care_helpline"], stored["care_none"], stored["care_hospital"]) == (
        True, True, False, False)
    assert (stored["tested"], stored["test_result"]) == ("both", "pending")
    assert (stored["flu_tested"], stored["flu_test_result"]) == (True, "negative")
    assert stored["days_off"] == 3 and stored["vaccinated_season"] is None  # "don't know" is stored as unknown


def test_end_date_and_temperature_follow_their_own_questions() -> None:
    base = {"symptoms": ["fever"], "same_illness": "no", "symptom_start": "2026-11-20", "sudden_onset": "yes",
            "fever_start": "2026-11-21", "fever_sudden": "yes", "care": "no", "tested": "no", "flu_tested": "no"}
    still_ill = check(WEEKLY, {**base, "still_ill": "yes", "symptom_end": "2026-11-22",
                               "temperature_measured": "no", "highest_temperature": "ge40"})
    assert still_ill.ok and "symptom_end" not in still_ill.answers and "highest_temperature" not in still_ill.answers
    ended = check(WEEKLY, {**base, "still_ill": "no", "symptom_end": "2026-11-19", "temperature_measured": "yes"})
    assert ended.errors["symptom_end"] == "Your symptoms cannot have ended before they started."
    assert ended.errors["highest_temperature"] == "Choose an answer."


def test_care_no_is_exclusive_and_days_off_has_bounds() -> None:
    base = {"symptoms": ["rash"], "same_illness": "no", "symptom_start": "2026-11-20", "still_ill": "yes",
            "sudden_onset": "no", "tested": "no", "flu_tested": "no"}
    result = check(WEEKLY, {**base, "care": ["no", "gp"], "days_off": "8"}, lang="da")
    assert "kan ikke kombineres" in result.errors["care"]
    assert result.errors["days_off"] == "Skriv et tal, der højst er 7."
    assert check(WEEKLY, {**base, "care": "no", "days_off": "-1"}).errors["days_off"] == "Enter a number of at least 0."
    assert check(WEEKLY, {**base, "care": "no", "days_off": "two"}).errors["days_off"] == "Enter a whole number."
    assert check(WEEKLY, {**base, "care": "no"}).ok  # days off is optional


def test_intake_2_questions_follow_the_relation_and_earlier_answers() -> None:
    base = {"birth_year": "1990", "sex": "female", "municipality": "101", "household_size": "4",
            "healthcare_worker": "yes", "chronic_condition": "no", "pregnant": "yes"}
    adult = check(INTAKE, base, relation="self")
    assert adult.answers == {"birth_year": 1990, "sex": "female", "municipality": 101, "household_size": 4,
                             "healthcare_worker": "yes", "chronic_condition": "no", "pregnant": "yes"}
    child = check(INTAKE, {**base, "birth_year": "2018"}, relation="child")
    assert "healthcare_worker" not in child.answers and "pregnant" not in child.answers
    man = check(INTAKE, {**base, "sex": "male"}, relation="partner")
    assert "pregnant" not in man.answers and man.answers["healthcare_worker"] == "yes"
    assert check(INTAKE, {**base, "household_size": "0"}).errors["household_size"] == "Enter a number of at least 1."
    assert check(INTAKE, {**base, "household_size": ""}).errors["household_size"] == "Enter a number."
