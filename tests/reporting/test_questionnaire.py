"""The questionnaire engine: definitions, question types, conditions, rules, rendering and storage."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, render_template_string
from werkzeug.datastructures import MultiDict

from reporting.models import WeeklyReport
from reporting.models import Profile
from reporting.questionnaire import (
    DefinitionError,
    answers_to_form,
    columns,
    current,
    evaluate,
    load,
    parse_definition,
    to_columns,
    validate,
)
from reporting.questionnaire.definition import DEFINITIONS_DIR, versions
from reporting.symptoms import SYMPTOMS

TODAY = dt.date(2026, 11, 26)
T = {"da": "tekst", "en": "text"}


def _opt(value: Any, **extra: Any) -> dict[str, Any]:
    return {"value": value, "label": {"da": f"{value} da", "en": f"{value} en"}, **extra}


SAMPLE = {
    "key": "sample", "version": 3, "target": "weekly_report", "title": T,
    "questions": [
        {"key": "colours", "type": "multi", "text": T, "rules": [{"rule": "required"}],
         "options": [_opt("none", exclusive=True), _opt("red"), _opt("blue")]},
        {"key": "pet", "type": "single", "text": T, "condition": {"question": "colours", "any_except": ["none"]},
         "options": [_opt("cat"), _opt("dog")], "rules": [{"rule": "required"}]},
        {"key": "city", "type": "select", "text": T,
         "groups": [{"label": {"da": "Jylland", "en": "Jutland"}, "options": [_opt(751), _opt(851)]},
                    {"label": {"da": "Sjælland", "en": "Zealand"}, "options": [_opt(101)]}]},
        {"key": "start", "type": "date", "text": T, "condition": {"question": "colours", "any_of": ["red"]},
         "rules": [{"rule": "required"}, {"rule": "not_in_future"}, {"rule": "max_days_back", "value": 10}]},
        {"key": "end", "type": "date", "text": T,
         "rules": [{"rule": "not_before", "value": "start"}]},
        {"key": "born", "type": "year", "text": T,
         "rules": [{"rule": "min", "value": 1900}, {"rule": "max", "value": {"this_year_minus": 0}},
                   {"rule": "max", "value": {"this_year_minus": 18}, "when": {"context": "adult", "equals": True},
                    "message": {"da": "For ung", "en": "Too young"}}]},
        {"key": "count", "type": "number", "text": T,
         "condition": {"all": [{"question": "pet", "answered": True}, {"not": {"question": "pet", "any_of": ["cat"]}}]},
         "rules": [{"rule": "min", "value": 1}, {"rule": "max", "value": 5}]},
    ],
}


@pytest.fixture
def sample() -> Any:
    return parse_definition(SAMPLE, "sample-3.json")


@pytest.fixture
def en(app: Flask) -> Iterator[None]:
    with app.test_request_context("/?lang=en"):
        yield


@pytest.fixture
def da(app: Flask) -> Iterator[None]:
    with app.test_request_context("/?lang=da"):
        yield


def check(q: Any, form: dict[str, Any], lang: str = "en", **context: Any) -> Any:
    return validate(q, MultiDict(form), lang=lang, today=TODAY, context=context)


# --- definitions ------------------------------------------------------------------------------------------

def test_shipped_definitions_load_and_name_their_version() -> None:
    assert versions("weekly") == [1, 2] and versions("intake") == [1, 2]
    assert current("weekly").id == "weekly-2" and current("intake").id == "intake-2"
    for path in DEFINITIONS_DIR.glob("*.json"):
        assert load(path.stem).id == path.stem


def test_weekly_definition_covers_every_symptom_and_writes_real_columns() -> None:
    weekly = load("weekly-1")
    symptoms = weekly.question("symptoms")
    assert [o.value for o in symptoms.options() if not o.exclusive] == list(SYMPTOMS)
    assert [o.value for o in symptoms.options() if o.exclusive] == ["none"]
    model_columns = set(WeeklyReport.__table__.columns.keys())
    assert set(columns(weekly)) <= model_columns
    assert {"no_symptoms", *SYMPTOMS, "same_illness", "symptom_start", "sudden_onset", "fever_start",
            "highest_temperature", "tested", "test_result"} <= set(columns(weekly))


def test_intake_definition_writes_profile_columns() -> None:
    intake = load("intake-1")
    assert set(columns(intake)) == {"birth_year", "sex", "municipality_code"}
    assert set(columns(intake)) <= set(Profile.__table__.columns.keys())


def test_every_text_is_in_danish_and_english() -> None:
    for path in DEFINITIONS_DIR.glob("*.json"):
        raw = json.loads(path.read_text(encoding="utf-8"))
        texts: list[dict[str, str]] = [raw["title"]]
        for q in raw["questions"]:
            texts += [q["text"]] + [q[k] for k in ("hint", "placeholder") if k in q]
            texts += [o["label"] for o in q.get("options", [])]
            texts += [r["message"] for r in q.get("rules", []) if "message" in r]
        for text in texts:
            assert set(text) == {"da", "en"} and all(v.strip() for v in text.values()), (path.name, text)


@pytest.mark.parametrize("broken, complaint", [
    ({"type": "slider"}, "type must be"),
    ({"options": [_opt("a"), _opt("a")]}, "unique"),
    ({"rules": [{"rule": "sometimes"}]}, "unknown rule"),
    ({"condition": {"question": "later", "any_of": ["x"]}}, "not an earlier question"),
    ({"text": {"da": "kun dansk"}}, "da', 'en"),
    ({"store": {"flags": True}}, "flags storage"),
])
def test_malformed_definitions_are_refused(broken: dict[str, Any], complaint: str) -> None:
    question = {"key": "q", "type": "single", "text": T, "options": [_opt("a")], **broken}
    with pytest.raises(DefinitionError, match=complaint):
        parse_definition({"key": "x", "version": 1, "target": "profile", "title": T, "questions": [question]})


def test_not_before_must_name_an_earlier_question() -> None:
    question = {"key": "end", "type": "date", "text": T, "rules": [{"rule": "not_before", "value": "start"}]}
    with pytest.raises(DefinitionError, match="earlier question"):
        parse_definition({"key": "x", "version": 1, "target": "profile", "title": T, "questions": [question]})


# --- conditions ---------------------------------------------------------------------------------------------

def test_condition_grammar() -> None:
    answers = {"symptoms": ["fever", "cough"], "tested": "pcr", "empty": []}
    assert evaluate({"question": "symptoms", "any_of": ["fever"]}, answers)
    assert not evaluate({"question": "symptoms", "any_of": ["rash"]}, answers)
    assert evaluate({"question": "symptoms", "any_except": ["none"]}, answers)
    assert not evaluate({"question": "symptoms", "any_except": ["none"]}, {"symptoms": ["none"]})
    assert evaluate({"question": "tested", "any_of": ["pcr", "antigen"]}, answers)
    assert evaluate({"question": "tested", "answered": True}, answers)
    assert evaluate({"question": "empty", "answered": False}, answers)
    assert evaluate({"question": "missing", "answered": False}, answers)
    assert evaluate({"all": [{"question": "tested", "answered": True}, {"not": {"question": "tested", "any_of": ["no"]}}]}, answers)
    assert not evaluate({"any": [{"question": "tested", "any_of": ["no"]}, {"question": "symptoms", "any_of": ["rash"]}]}, answers)
    assert evaluate({"context": "relation", "equals": "self"}, {}, {"relation": "self"})
    assert not evaluate({"context": "relation", "equals": "self"}, {}, {"relation": "child"})
    assert evaluate(None, {})


# --- question types and rules -------------------------------------------------------------------------------

def test_multi_with_exclusive_option(sample: Any, en: None) -> None:
    ok = check(sample, {"colours": ["blue", "red"], "pet": "cat", "start": "2026-11-20"})
    assert ok.ok and ok.answers["colours"] == ["red", "blue"]  # in the definition's order
    combined = check(sample, {"colours": ["none", "red"]})
    assert combined.errors["colours"] == "“none en” cannot be combined with other answers."
    assert "colours" not in combined.answers
    assert check(sample, {"colours": ["green"]}).errors["colours"] == "Choose from the options shown."
    assert check(sample, {}).errors["colours"] == "Choose at least one answer."


def test_single_and_select(sample: Any, en: None) -> None:
    result = check(sample, {"colours": "blue", "pet": "dog", "city": "851"})
    assert result.ok and result.answers["pet"] == "dog"
    assert result.answers["city"] == 851  # the option's own type, not the form's string
    assert check(sample, {"colours": "blue", "pet": ["dog", "cat"]}).errors["pet"] == "Choose only one answer."
    assert check(sample, {"colours": "blue", "pet": "fish"}).errors["pet"] == "Choose from the options shown."
    assert check(sample, {"colours": "blue"}).errors["pet"] == "Choose an answer."
    assert check(sample, {"colours": "none", "city": "999"}).errors["city"] == "Choose from the options shown."


def test_dates(sample: Any, en: None) -> None:
    base = {"colours": "red", "pet": "cat"}
    assert check(sample, {**base, "start": "2026-11-20"}).answers["start"] == "2026-11-20"
    assert check(sample, {**base, "start": "20-11-2026"}).answers["start"] == "2026-11-20"  # Danish order
    assert check(sample, {**base, "start": "20.11.2026"}).answers["start"] == "2026-11-20"
    assert check(sample, {**base, "start": "31-02-2026"}).errors["start"].startswith("Enter a real date")
    assert check(sample, {**base, "start": "yesterday"}).errors["start"].startswith("Enter a real date")
    assert check(sample, {**base}).errors["start"] == "Enter a date."
    assert check(sample, {**base, "start": "2026-11-27"}).errors["start"] == "The date cannot be in the future."
    assert check(sample, {**base, "start": "2026-11-26"}).ok  # today is allowed
    assert check(sample, {**base, "start": "2026-11-16"}).ok  # exactly 10 days back
    assert check(sample, {**base, "start": "2026-11-15"}).errors["start"] == "The date cannot be more than 10 days ago."


def test_end_not_before_start(sample: Any, en: None) -> None:
    base = {"colours": "red", "pet": "cat", "start": "2026-11-20"}
    assert check(sample, {**base, "end": "2026-11-20"}).ok
    assert check(sample, {**base, "end": "2026-11-19"}).errors["end"] == "The date cannot be before November 20, 2026."
    # Without a start date (its question skipped), the end date has nothing to be compared with.
    assert check(sample, {"colours": "blue", "pet": "cat", "end": "2026-11-19"}).ok


def test_years_and_numbers(sample: Any, en: None) -> None:
    base = {"colours": "blue", "pet": "dog"}
    assert check(sample, {**base, "born": "1980"}).answers["born"] == 1980
    assert check(sample, {**base, "born": "80x"}).errors["born"] == "Enter a year with four digits, for example 1980."
    # Digits of other scripts are not what a Danish user types: refused with the same message (issue 12).
    for other in ("\u0661\u0669\u0668\u0660", "１９８０", "\u0967\u096f\u096e\u0966"):
        assert check(sample, {**base, "born": other}).errors["born"] == \
            "Enter a year with four digits, for example 1980."
    assert check(sample, {**base, "born": "1899"}).errors["born"] == "Enter a year no earlier than 1900."
    assert check(sample, {**base, "born": "2027"}).errors["born"] == "Enter a year no later than 2026."
    assert check(sample, {**base, "born": "2010"}).ok
    assert check(sample, {**base, "born": "2010"}, adult=True).errors["born"] == "Too young"  # rule with 'when'
    assert check(sample, {**base, "born": "2008"}, adult=True).ok
    assert check(sample, {**base, "count": "3"}).answers["count"] == 3
    assert check(sample, {**base, "count": "three"}).errors["count"] == "Enter a whole number."
    assert check(sample, {**base, "count": "0"}).errors["count"] == "Enter a number of at least 1."
    assert check(sample, {**base, "count": "6"}).errors["count"] == "Enter a number no greater than 5."


def test_skipped_questions_ignore_their_input(sample: Any, en: None) -> None:
    result = check(sample, {"colours": "none", "pet": "fish", "start": "not a date", "count": "99"})
    assert result.ok, result.errors  # every follow-up's condition is false: nothing judged, nothing kept
    assert result.answers == {"colours": ["none"]}
    assert result.raw["pet"] == ["fish"]  # but what was sent is kept for showing the form again
    # A condition on a skipped question: 'count' asks for an answered, non-cat 'pet'.
    assert "count" not in check(sample, {"colours": "blue", "pet": "cat", "count": "3"}).answers


def test_messages_in_danish(sample: Any, da: None) -> None:
    result = check(sample, {"colours": ["none", "red"], "born": "1899"}, lang="da")
    assert result.errors["colours"] == "»none da« kan ikke kombineres med andre svar."
    assert result.errors["born"] == "Skriv et årstal, der ikke er før 1900."
    assert check(sample, {"colours": "blue", "pet": "dog", "born": "2010"}, lang="da", adult=True).errors["born"] == "For ung"
    later = check(sample, {"colours": "red", "pet": "cat", "start": "2026-11-20", "end": "2026-11-19"}, lang="da")
    assert later.errors["end"] == "Datoen kan ikke ligge før 20. november 2026."


# --- the shipped weekly questionnaire ----------------------------------------------------------------------

def test_weekly_no_symptoms(en: None) -> None:
    weekly = load("weekly-1")
    result = check(weekly, {"symptoms": "none", "tested": "pcr", "symptom_start": "2026-11-20"})
    assert result.ok and result.answers == {"symptoms": ["none"]}
    stored = to_columns(weekly, result.answers)
    assert stored["no_symptoms"] is True and not any(stored[s] for s in SYMPTOMS)
    assert stored["tested"] is None and stored["symptom_start"] is None


def test_weekly_no_symptoms_cannot_be_combined(en: None) -> None:
    result = check(load("weekly-1"), {"symptoms": ["none", "cough"]})
    assert result.errors["symptoms"] == "“No symptoms” cannot be combined with other answers."


def test_weekly_follow_up_questions_and_storage(en: None) -> None:
    weekly = load("weekly-1")
    form = {"symptoms": ["fever", "cough"], "same_illness": "no", "symptom_start": "2026-11-22",
            "symptom_end": "", "sudden_onset": "yes", "fever_start": "2026-11-23",
            "highest_temperature": "38_38.9", "tested": "antigen", "test_result": "waiting"}
    result = check(weekly, form)
    assert result.ok, result.errors
    stored = to_columns(weekly, result.answers)
    assert stored["fever"] and stored["cough"] and not stored["no_symptoms"] and not stored["rash"]
    assert stored["symptom_start"] == dt.date(2026, 11, 22) and stored["fever_start"] == dt.date(2026, 11, 23)
    assert stored["symptom_end"] is None
    assert stored["sudden_onset"] is True and stored["same_illness"] == "no"
    assert stored["highest_temperature"] == "38_38.9"
    assert stored["tested"] == "antigen" and stored["test_result"] == "pending"
    assert answers_to_form(weekly, result.answers)["symptoms"] == ["fever", "cough"]


def test_weekly_required_follow_ups(en: None) -> None:
    weekly = load("weekly-1")
    result = check(weekly, {"symptoms": "fever"})
    assert set(result.errors) == {"same_illness", "symptom_start", "sudden_onset", "fever_start",
                                  "highest_temperature", "tested"}
    assert "test_result" not in result.errors  # only asked after a test
    assert check(weekly, {"symptoms": "cough", "tested": "no"}).errors.keys() >= {"symptom_start"}
    without_fever = check(weekly, {"symptoms": "cough", "same_illness": "yes", "symptom_start": "2026-11-20",
                                   "sudden_onset": "dont_know", "tested": "no", "fever_start": "2026-11-21"})
    assert without_fever.ok and "fever_start" not in without_fever.answers
    assert to_columns(weekly, without_fever.answers)["sudden_onset"] is None  # "don't know"
    ended_early = check(weekly, {"symptoms": "cough", "same_illness": "yes", "symptom_start": "2026-11-20",
                                 "symptom_end": "2026-11-19", "sudden_onset": "no", "tested": "no"})
    assert ended_early.errors == {"symptom_end": "Your symptoms cannot have ended before they started."}


def test_intake_adults_only_for_the_account_holder(en: None) -> None:
    intake = load("intake-1")
    form = {"birth_year": "2015", "sex": "female", "municipality": "751"}
    assert "birth_year" in check(intake, form, relation="self").errors
    assert check(intake, form, relation="child").ok  # a later household profile may be a child
    result = check(intake, {**form, "birth_year": "1980"}, relation="self")
    assert to_columns(intake, result.answers) == {"birth_year": 1980, "sex": "female", "municipality_code": 751}


def test_municipalities_grouped_by_region_in_danish_order(en: None) -> None:
    groups = load("intake-1").question("municipality").groups()
    assert [g.text("da") for g in groups] == ["Region Hovedstaden", "Region Midtjylland", "Region Nordjylland",
                                              "Region Sjælland", "Region Syddanmark"]
    assert sum(len(g.options) for g in groups) == 98
    midt = [o.text("da") for o in groups[1].options]
    assert midt[-1] == "Aarhus"  # "Aa" is sorted as "Å", at the end
    assert midt[0] == "Favrskov"


# --- rendering ------------------------------------------------------------------------------------------------

def render(questionnaire: Any, values: dict[str, Any], errors: dict[str, str], lang: str = "en") -> str:
    return render_template_string(
        '{% from "questionnaire/macros.html" import questionnaire_fields %}'
        '{{ questionnaire_fields(q, lang, values, errors) }}', q=questionnaire, lang=lang, values=values,
        errors=errors)


def test_rendering_every_type(sample: Any, en: None) -> None:
    html = render(sample, {"colours": ["red"], "city": ["851"], "born": ["1980"]}, {})
    assert '<input type="checkbox" id="q-colours-1" name="colours"\n                 value="red" checked' in html
    assert 'data-exclusive="true"' in html
    assert 'type="radio" id="q-pet-0"' in html
    assert '<optgroup label="Jutland">' in html and '<option value="851" selected>851 en</option>' in html
    assert '<input type="date" id="q-start"' in html
    assert 'inputmode="numeric" id="q-born"' in html and 'value="1980"' in html
    assert "data-condition='{\"any_except\": [\"none\"], \"question\": \"colours\"}'" in html
    assert "<legend>text</legend>" in html and "(optional)" in html  # 'pet' required, 'city' optional


def test_rendering_errors_are_tied_to_their_fields(sample: Any, en: None) -> None:
    html = render(sample, {"born": ["1899"]}, {"born": "Enter a year no earlier than 1900.", "pet": "Choose an answer."})
    assert 'id="err-born"' in html and 'aria-describedby="err-born" aria-invalid="true"' in html
    assert '<fieldset aria-describedby="err-pet">' in html
    assert 'name="pet"\n                 value="cat" aria-invalid="true"' in html


def test_rendering_in_danish(da: None) -> None:
    html = render(load("weekly-1"), {}, {}, lang="da")
    assert "Har du haft nogen af disse symptomer inden for den seneste uge?" in html
    assert "Ingen symptomer" in html and "(valgfrit)" in html
