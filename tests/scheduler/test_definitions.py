"""Case definitions compile to SQL and to a Python reference, and the two agree on arbitrary reports."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, select

from reporting.extensions import db
from reporting.models import WeeklyReport
from reporting.symptoms import SYMPTOMS
from scheduler.incidence.definitions import CompiledDefinition, DefinitionError, load_definitions, to_predicate, to_sql

from .factories import People, week

SEEDED = {"ili.ecdc", "covid.ecdc", "ari", "fever.cough", "cli", "any.symptom", "covid.menni2020"}

reports_strategy = st.fixed_dictionaries({
    "symptoms": st.sets(st.sampled_from(SYMPTOMS), max_size=6),
    "age": st.integers(0, 100),
    "sex": st.sampled_from(["female", "male", "other"]),
    "sudden_onset": st.none() | st.booleans(),
    "fever_sudden": st.none() | st.booleans(),
    "same_illness": st.none() | st.sampled_from(["yes", "no", "dont_know"]),
    "tested": st.none() | st.sampled_from(["none", "pcr", "antigen"]),
    "persistent_cough": st.none() | st.booleans(),
    "severe_fatigue": st.none() | st.booleans(),
    "skipped_meals": st.none() | st.booleans(),
})

boolean_fields = st.sampled_from(["sudden_onset", "fever_sudden", "persistent_cough", "severe_fatigue",
                                  "skipped_meals"])
coefficients = st.floats(-3, 3, allow_nan=False, allow_infinity=False)

leaves = st.one_of(
    st.builds(lambda s: {"symptom": s}, st.sampled_from(SYMPTOMS)),
    st.builds(lambda f, v: {"field": f, "is": v}, boolean_fields, st.none() | st.booleans()),
    st.builds(lambda v: {"field": "same_illness", "is": v}, st.none() | st.sampled_from(["yes", "no"])),
    st.builds(lambda v: {"field": "sex", "is": v}, st.sampled_from(["female", "male"])),
    st.builds(lambda n: {"age_over": n}, st.integers(-1, 100)),
    st.just({"any_symptom": True}),
)
# Logistic models over arbitrary sub-rules (and age), with arbitrary coefficients and thresholds.
logistic_strategy = st.builds(
    lambda b0, terms, t: {"logistic": {"intercept": b0, "terms": terms, "threshold": t}},
    coefficients,
    st.lists(st.one_of(st.builds(lambda c: {"coefficient": c, "variable": "age_years"}, st.floats(-0.1, 0.1)),
                       st.builds(lambda c, r: {"coefficient": c, "rule": r}, coefficients, leaves)), max_size=5),
    st.sampled_from([0.5, 0.2, 0.8]) | st.floats(0.01, 0.99))
rules_strategy = st.recursive(leaves | logistic_strategy, lambda children: st.one_of(
    st.builds(lambda xs: {"all": xs}, st.lists(children, max_size=3)),
    st.builds(lambda xs: {"any": xs}, st.lists(children, max_size=3)),
    st.builds(lambda x: {"not": x}, children)), max_leaves=8)


def _insert_reports(connection: Any, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    people = People(connection)
    rows = []
    for i, spec in enumerate(reports):
        profile = people.person(sex=spec["sex"], birth_year=2026 - spec["age"])
        rows.append(people.report(profile, week(i % 3), symptoms=sorted(spec["symptoms"]),
                                  sudden_onset=spec["sudden_onset"], fever_sudden=spec["fever_sudden"],
                                  same_illness=spec["same_illness"], tested=spec["tested"],
                                  persistent_cough=spec["persistent_cough"], severe_fatigue=spec["severe_fatigue"],
                                  skipped_meals=spec["skipped_meals"]))
    return rows


def _sql_matches(connection: Any, definitions: list[CompiledDefinition]) -> dict[tuple[str, str], bool]:
    table = WeeklyReport.__table__
    query = select(table.c.profile_id, *[case((d.sql(table), 1), else_=0).label(f"d{i}")
                                         for i, d in enumerate(definitions)])
    result = {}
    for row in connection.execute(query).mappings():
        for i, d in enumerate(definitions):
            result[(row["profile_id"], d.key)] = bool(row[f"d{i}"])
    return result


@pytest.fixture
def seeded(app: Flask) -> list[CompiledDefinition]:
    with app.app_context():
        return load_definitions(db.session)


def test_seeded_definitions_load(seeded: list[CompiledDefinition]) -> None:
    assert {d.key for d in seeded} == SEEDED
    assert all(d.version == 1 for d in seeded)
    kinds = {d.key: d.kind for d in seeded}
    assert kinds.pop("covid.menni2020") == "model" and set(kinds.values()) == {"definition"}


def test_menni_model_known_answers(seeded: list[CompiledDefinition]) -> None:
    """Hand-computed linear predictors of Menni et al. 2020 (male = 1); predicted when logit > 0 (P > 0.5)."""
    menni = next(d for d in seeded if d.key == "covid.menni2020")
    # 30-year-old woman who lost her sense of smell: -1.32167356 - 0.2149365 + 1.74711853 = 0.2105 > 0.
    assert menni.matches(_report(loss_of_smell=True, age_years=30, sex="female"))
    # The same at 60: -1.32167356 - 0.429873 + 1.74711853 = -0.0044 < 0 (P = 0.4989).
    assert not menni.matches(_report(loss_of_smell=True, age_years=60, sex="female"))
    # ... but a man of 60: + 0.43576578 -> 0.4314 > 0.
    assert menni.matches(_report(loss_of_taste=True, age_years=60, sex="male"))
    # Persistent cough, severe fatigue and skipped meals without smell or taste, man of 40:
    # -1.32167356 - 0.286582 + 0.43576578 + 0.30872189 + 0.49534113 + 0.38691672 = 0.0185 > 0.
    three = _report(age_years=40, sex="male", persistent_cough=True, severe_fatigue=True, skipped_meals=True)
    assert menni.matches(three)
    assert not menni.matches({**three, "age_years": 43})  # -0.0030
    assert not menni.matches({**three, "skipped_meals": None})  # unanswered counts as 0
    assert not menni.matches({**three, "sex": "other"})  # only male counts as 1
    assert not menni.matches(_report(no_symptoms=True, sex="male", age_years=18))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=st.lists(reports_strategy, min_size=1, max_size=12))
def test_seeded_definitions_sql_equals_python(app: Flask, seeded: list[CompiledDefinition],
                                               reports: list[dict[str, Any]]) -> None:
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            rows = _insert_reports(connection, reports)
            in_sql = _sql_matches(connection, seeded)
        finally:
            transaction.rollback()
    for row in rows:
        for definition in seeded:
            assert in_sql[(row["profile_id"], definition.key)] == definition.matches(row), (definition.key, row)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules_strategy, reports=st.lists(reports_strategy, min_size=1, max_size=6))
def test_arbitrary_rules_sql_equals_python(app: Flask, rule: dict[str, Any], reports: list[dict[str, Any]]) -> None:
    definition = CompiledDefinition.from_rule("random", 1, rule)
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            rows = _insert_reports(connection, reports)
            in_sql = _sql_matches(connection, [definition])
        finally:
            transaction.rollback()
    for row in rows:
        assert in_sql[(row["profile_id"], "random")] == definition.matches(row), (rule, row)


def _report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {name: False for name in SYMPTOMS}
    report.update(age_years=30, sudden_onset=None, fever_sudden=None, same_illness=None, sex="female",
                  persistent_cough=None, severe_fatigue=None, skipped_meals=None)
    report.update(overrides)
    return report


def test_known_answers_of_the_python_reference(seeded: list[CompiledDefinition]) -> None:
    by_key = {d.key: d for d in seeded}
    flu = _report(fever=True, cough=True, sudden_onset=True)
    assert by_key["ili.ecdc"].matches(flu)
    assert by_key["cli"].matches(flu) and by_key["fever.cough"].matches(flu)
    assert not by_key["ili.ecdc"].matches({**flu, "sudden_onset": None})  # no sudden onset, no ILI
    assert by_key["ili.ecdc"].matches({**flu, "sudden_onset": False, "fever_sudden": True})
    headache_child = _report(headache=True, sore_throat=True, sudden_onset=True, age_years=5)
    assert not by_key["ili.ecdc"].matches(headache_child)  # headache counts only above age 5
    assert by_key["ili.ecdc"].matches({**headache_child, "age_years": 6})
    smell = _report(loss_of_smell=True, sudden_onset=True)
    assert by_key["covid.ecdc"].matches(smell) and not by_key["cli"].matches(smell)
    assert not by_key["covid.ecdc"].matches({**smell, "sudden_onset": False})
    assert not by_key["any.symptom"].matches(_report(no_symptoms=True))
    assert by_key["any.symptom"].matches(_report(rash=True))


def test_not_of_an_unanswered_question_is_true_in_sql_and_python(app: Flask) -> None:
    definition = CompiledDefinition.from_rule("x", 1, {"not": {"field": "sudden_onset", "is": True}})
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        people = People(connection)
        row = people.report(people.person(), week(0), symptoms=["cough"], sudden_onset=None)
        assert _sql_matches(connection, [definition])[(row["profile_id"], "x")] is True
        transaction.rollback()
    assert definition.matches(row) is True


@pytest.mark.parametrize("rule, message", [
    ({"symptom": "hiccups"}, "unknown symptom 'hiccups'"),
    ({"field": "answers", "is": "x"}, "unknown or unsupported field 'answers'"),
    ({"field": "sudden_onset"}, "needs 'is'"),
    ({"field": "sudden_onset", "is": "yes"}, "compares with bool"),
    ({"field": "region_code", "is": True}, "compares with int"),
    ({"age_over": "5"}, "age_over needs an integer"),
    ({"any_symptom": False}, "any_symptom must be true"),
    ({"all": {"symptom": "fever"}}, "expected a list"),
    ({"maybe": []}, "expected exactly one of"),
    ({"symptom": "fever", "any": []}, "expected exactly one of"),
    ({"not": {"symptom": "fever"}, "note": 1}, "unexpected keys"),
    ({"logistic": {"intercept": 0, "terms": []}}, "needs exactly intercept, terms and threshold"),
    ({"logistic": {"intercept": "1", "terms": [], "threshold": 0.5}}, "intercept must be a finite number"),
    ({"logistic": {"intercept": 0, "terms": [], "threshold": 1}}, "strictly between 0 and 1"),
    ({"logistic": {"intercept": 0, "terms": [{"coefficient": 1, "variable": "weight"}], "threshold": 0.5}},
     "unknown numeric variable 'weight'"),
    ({"logistic": {"intercept": 0, "terms": [{"coefficient": 1}], "threshold": 0.5}},
     r"a term is \{coefficient, variable\} or \{coefficient, rule\}"),
    ({"logistic": {"intercept": 0, "terms": [{"coefficient": 1, "rule": {"symptom": "x"}}], "threshold": 0.5}},
     r"terms\[0\]\.rule: unknown symptom"),
    (["symptom", "fever"], "must be an object"),
])
def test_invalid_rules_raise_clear_errors(rule: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        to_predicate(rule)
    with pytest.raises(DefinitionError, match=message):
        to_sql(rule)


def test_error_names_the_path() -> None:
    with pytest.raises(DefinitionError, match=r"ili v2\.all\[1\]\.any\[0\]"):
        CompiledDefinition.from_rule("ili", 2, {"all": [{"symptom": "fever"}, {"any": [{"symptom": "x"}]}]})


def test_load_unknown_key_is_an_error(app: Flask) -> None:
    with app.app_context(), pytest.raises(DefinitionError, match="no active case definition with key nope"):
        load_definitions(db.session, ["covid.ecdc", "nope"])


def test_inactive_definitions_are_not_loaded(app: Flask) -> None:
    from sqlalchemy import update

    from reporting.models import CaseDefinition

    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(update(CaseDefinition).where(CaseDefinition.key == "ari").values(active=False))
        try:
            assert "ari" not in {d.key for d in load_definitions(db.session)}
            assert "ari" in {d.key for d in load_definitions(db.session, active_only=False)}
        finally:
            with db.engine.begin() as connection:
                connection.execute(update(CaseDefinition).where(CaseDefinition.key == "ari").values(active=True))


def test_empty_all_and_any() -> None:
    assert to_predicate({"all": []})({}) is True
    assert to_predicate({"any": []})({}) is False
