"""The knowledge the joint disclosure audit assumes of every reader holds (scheduler.protection)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting.extensions import db
from reporting.symptoms import SYMPTOMS
from scheduler.definitions import load_definitions
from scheduler.protection import DEFINITION_NESTING, published_cell

reports = st.builds(
    lambda symptoms, age, sex, sudden, fever_sudden, extra: {
        **{name: name in symptoms for name in SYMPTOMS}, "age_years": age, "sex": sex, "sudden_onset": sudden,
        "fever_sudden": fever_sudden, "same_illness": None, "persistent_cough": extra[0],
        "severe_fatigue": extra[1], "skipped_meals": extra[2]},
    st.sets(st.sampled_from(SYMPTOMS), max_size=8), st.integers(0, 100), st.sampled_from(["female", "male", "other"]),
    st.none() | st.booleans(), st.none() | st.booleans(), st.tuples(*[st.none() | st.booleans()] * 3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(report=reports)
def test_every_declared_nesting_holds_report_by_report(app: Flask, report: dict[str, Any]) -> None:
    """A case of the inner definition is a case of the outer one, whatever the answers: the audit may take
    cases(inner) <= cases(outer) in every cell as a reader's knowledge. (The rules are published; a claim that
    did not hold would make the audit assume what is false.)"""
    with app.app_context():
        definitions = {d.key: d for d in load_definitions(db.session)}
    for inner, outer in DEFINITION_NESTING:
        if definitions[inner].matches(report):
            assert definitions[outer].matches(report), (inner, outer, report)


def test_published_detail() -> None:
    assert published_cell(("nation", "DK", "all", "all")) and published_cell(("region", "1084", "65+", "all"))
    assert published_cell(("nation", "DK", "all", "female")) and not published_cell(("nation", "DK", "all", "other"))
    assert not published_cell(("nation", "DK", "0-20", "male")) and not published_cell(("region", "1084", "all", "male"))
