"""Stored case flags (PostgreSQL): the database evaluates each definition once per report version, the bits
agree with the Python reference, and the aggregation never reads a bit built from another rule."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from reporting.extensions import db
from reporting.models import CaseDefinition, CaseFlagBit, WeeklyReport
from reporting.symptoms import SYMPTOMS
from scheduler.incidence import caseflags
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import CompiledDefinition, load_definitions
from scheduler.incidence.methods import W0
from scheduler.incidence.strata import load_strata

from .factories import People, W, all_reports

pytestmark = pytest.mark.usefixtures("app")


def _postgresql(app: Flask) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def test_sqlite_keeps_no_flags_and_evaluates_inline(app: Flask) -> None:
    if _postgresql(app):
        pytest.skip("the SQLite side")
    with app.app_context(), db.engine.begin() as connection:
        definitions = load_definitions(db.session)
        assert caseflags.usable_bits(connection, definitions) == {}
        assert caseflags.rebuild(connection) == 0


def test_every_active_definition_has_a_bit_built_from_its_rule(app: Flask) -> None:
    if not _postgresql(app):
        pytest.skip("case flags are stored on PostgreSQL only")
    with app.app_context(), db.engine.connect() as connection:
        definitions = load_definitions(db.session)
        bits = caseflags.usable_bits(connection, definitions)
        assert set(bits) == {(d.key, d.version) for d in definitions}
        assert sorted(bits.values()) == list(range(len(definitions)))
        # A definition whose rule differs from the one the bit was built from is evaluated inline.
        changed = dataclasses.replace(definitions[0], rule={"symptom": "rash"})
        assert (changed.key, changed.version) not in caseflags.usable_bits(connection, [changed])


flag_report = st.fixed_dictionaries({
    "symptoms": st.lists(st.sampled_from(SYMPTOMS), max_size=6, unique=True),
    "sudden_onset": st.sampled_from([None, True, False]),
    "age": st.integers(0, 100),
    "persistent_cough": st.sampled_from([None, True, False]),
    "severe_fatigue": st.sampled_from([None, True, False]),
    "skipped_meals": st.sampled_from([None, True, False]),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=st.lists(flag_report, min_size=1, max_size=6))
def test_flags_agree_with_the_python_reference(app: Flask, reports: list[dict]) -> None:
    if not _postgresql(app):
        pytest.skip("case flags are stored on PostgreSQL only")
    with app.app_context():
        definitions = load_definitions(db.session)
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                bits = caseflags.usable_bits(connection, definitions)
                people = People(connection)
                for spec in reports:
                    person = people.person(1084, "female", W.year - spec["age"])
                    people.report(person, W, symptoms=spec["symptoms"], sudden_onset=spec["sudden_onset"],
                                  persistent_cough=spec["persistent_cough"], severe_fatigue=spec["severe_fatigue"],
                                  skipped_meals=spec["skipped_meals"])
                flags = dict(connection.execute(text("SELECT id, case_flags FROM weekly_reports")).all())
                for report in all_reports(connection):
                    for d in definitions:
                        stored = bool(flags[report["id"]] >> bits[(d.key, d.version)] & 1)
                        assert stored == d.matches(report), (d.key, report)
            finally:
                transaction.rollback()


def test_a_revised_report_is_evaluated_again(app: Flask) -> None:
    if not _postgresql(app):
        pytest.skip("case flags are stored on PostgreSQL only")
    with app.app_context(), db.engine.begin() as connection:
        definitions = {d.key: d for d in load_definitions(db.session)}
        bit = caseflags.usable_bits(connection, list(definitions.values()))[("any.symptom", 1)]
        people = People(connection)
        person = people.person()
        people.report(person, W)
        report_id = connection.scalar(select(WeeklyReport.id).where(WeeklyReport.profile_id == person))
        flags = lambda: connection.scalar(text("SELECT case_flags FROM weekly_reports WHERE id = :id"),  # noqa: E731
                                          {"id": report_id})
        assert not flags() >> bit & 1
        connection.execute(update(WeeklyReport).where(WeeklyReport.id == report_id)
                           .values(cough=True, no_symptoms=False, revision=2))
        assert flags() >> bit & 1


def test_rebuild_takes_in_a_new_definition_and_the_counts_follow(app: Flask) -> None:
    if not _postgresql(app):
        pytest.skip("case flags are stored on PostgreSQL only")
    with app.app_context():
        with db.engine.begin() as connection:
            people = People(connection)
            for symptoms in (["rash"], ["rash", "cough"], []):
                people.report(people.person(), W, symptoms=symptoms)
            connection.execute(CaseDefinition.__table__.insert().values(
                key="rash.test", version=1, label_en="Rash", label_da="Udslæt", description="test", source="test",
                kind="definition", default_method="w0", rule={"symptom": "rash"}, active=True))
            definitions = [CompiledDefinition.from_rule("rash.test", 1, {"symptom": "rash"})]
            assert caseflags.usable_bits(connection, definitions) == {}  # not flagged yet: evaluated inline
            strata = load_strata(connection, "influenzanet")
            inline = count_weeks(connection, [W], definitions, W0, strata)[W]
            active = connection.scalar(select(func.count()).select_from(CaseDefinition)
                                       .where(CaseDefinition.active.is_(True)))
            assert caseflags.rebuild(connection) == active
            assert ("rash.test", 1) in caseflags.usable_bits(connection, definitions)
            flagged = count_weeks(connection, [W], definitions, W0, strata)[W]
            assert flagged.cases == inline.cases and flagged.cases[0][("nation", "DK", "all", "all")] == 2
            # Leave the schema as the migrations made it for the tests that follow.
            connection.execute(CaseDefinition.__table__.delete().where(CaseDefinition.key == "rash.test"))
            caseflags.rebuild(connection)
            assert connection.scalar(select(CaseFlagBit.bit).where(CaseFlagBit.definition_key == "rash.test")) \
                is None
