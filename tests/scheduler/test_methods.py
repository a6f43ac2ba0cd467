"""Participation methods as parameters: hand-computed known answers for every method and parameter, and the
SQL held to the plain-Python reference on arbitrary small populations (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from reporting.extensions import db
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import CompiledDefinition, load_definitions
from scheduler.incidence.methods import COVIDMETER_3W, METHODS, W0, W0_IGNORE_FIRST, W1_S2_IF2_EX, Method, check
from scheduler.incidence.reference import reference_counts
from scheduler.incidence.strata import load_strata

from .factories import People, W, all_reports, week

BANDS = [("0-20", 0, 20), ("21-64", 21, 64), ("65+", 65, 150)]
SYMPTOM_FIRST = dataclasses.replace(W0, key="w0_symptom_onset", onset_sources=("symptom_start", "fever_start",
                                                                                 "report"))
REPORT_ONSET = dataclasses.replace(W0, key="w0_report_onset", onset_sources=("report",))
SEASON_2 = dataclasses.replace(W0, key="w0_s2", min_reports_in_season=2)
ALL_METHODS = [*METHODS.values(), SYMPTOM_FIRST, REPORT_ONSET, SEASON_2,
               dataclasses.replace(W1_S2_IF2_EX, key="w2_l2", window_weeks=2, onset_lookahead_weeks=2,
                                   same_episode_days=None),
               # Methods without an activity window take the two-part statement: each of its switches.
               dataclasses.replace(W0, key="w0_l0", onset_lookahead_weeks=0),
               dataclasses.replace(W0_IGNORE_FIRST, key="w0_if_l2_no_episodes", onset_lookahead_weeks=2,
                                   same_episode_days=None),
               dataclasses.replace(COVIDMETER_3W, key="w0_3w_symptom_onset_s2", min_reports_in_season=2,
                                   onset_sources=("symptom_start", "report"), same_episode_days=8)]


def build_method_population(connection: Connection) -> None:
    """Six people around W (2026-W10); the expected counts per method are worked out in the tests."""
    people = People(connection)
    day = lambda monday, n: monday + dt.timedelta(days=n)  # noqa: E731
    # P1: healthy in W-2, W-1 and W.
    p1 = people.person(1084, "female", 1980)
    for n in (-2, -1, 0):
        people.report(p1, week(n))
    # P2: first report ever in W, a cough that started in W.
    p2 = people.person(1084, "male", 1990)
    people.report(p2, W, symptoms=["cough"], symptom_start=day(W, 1), same_illness="no")
    # P3 (Nordjylland): W-1 with a cough from W-1, then healthy in W+1; nothing in W.
    p3 = people.person(1081, "female", 1970)
    people.report(p3, week(-1), symptoms=["cough"], symptom_start=day(week(-1), 0))
    people.report(p3, week(1))
    # P4: first report in W: fever from Tuesday of W, but symptoms since Sunday of W-1; again in W+2.
    p4 = people.person(1084, "female", 1960)
    people.report(p4, W, symptoms=["fever", "cough"], sudden_onset=True, fever_start=day(W, 1),
                  symptom_start=day(W, -1), same_illness="no")
    people.report(p4, week(2))
    # P5: W-3 healthy, then in W a cough with no dates (onset = the report).
    p5 = people.person(1082, "male", 1985)
    people.report(p5, week(-3))
    people.report(p5, W, symptoms=["cough"], same_illness="no")
    # P6: healthy in W (first report), a cough from Friday of W reported in W+1.
    p6 = people.person(1083, "female", 2000)
    people.report(p6, W)
    people.report(p6, week(1), symptoms=["cough"], symptom_start=day(W, 4), same_illness="no")


def _nation(app: Flask, definitions: list[CompiledDefinition], method: Method, monday: dt.date = W
            ) -> tuple[int, int]:
    with app.app_context(), db.engine.connect() as connection:
        counts = count_weeks(connection, [monday], definitions, method, load_strata(connection, "influenzanet"))
    cell = ("nation", "DK", "all", "all")
    covid = next(i for i, d in enumerate(definitions) if d.key == "covid.ecdc")
    return counts[monday].active[cell], counts[monday].cases[covid][cell]


@pytest.fixture
def population(app: Flask) -> tuple[Flask, list[CompiledDefinition]]:
    with app.app_context():
        with db.engine.begin() as connection:
            build_method_population(connection)
        definitions = load_definitions(db.session, ["covid.ecdc"])
        db.session.close()
    return app, definitions


@pytest.mark.parametrize("method, expected", [
    # w0: active P1 P2 P4 P5 P6; cases (COVID: cough or fever) P2, P4 (fever in W), P5, P6 (onset in W, W+1).
    (W0, (5, 4)),
    # Ignore the first report of the season: P2, P4 and P6 reported first in W -> active P1 P5; case P5.
    (W0_IGNORE_FIRST, (2, 1)),
    # COVIDmeter, at least 3 weeks reported up to W: only P1.
    (COVIDMETER_3W, (1, 0)),
    # w1_s2_if2_ex: W-1..W+1, >= 2 reports in the season, first ignored: P1 (W-1, W), P3 (W+1 counts, 2 in the
    # season), P5, P6 (W+1); not P2 (one report), not P4 (W is its first, W+2 outside the window).
    # Cases: P5 (cough in W), P6 (carried by its W+1 report, which is not its first).
    (W1_S2_IF2_EX, (4, 2)),
    # Onset from the symptom start first: P4's onset moves to W-1.
    (SYMPTOM_FIRST, (5, 3)),
    # Onset = the report's week: P6's cough counts in W+1, P4's in W.
    (REPORT_ONSET, (5, 3)),
    # At least 2 reports in the whole season (later reports count): P1, P4 (W and W+2), P5, P6; not P2.
    (SEASON_2, (4, 3)),
])
def test_known_answers_per_method(population: tuple[Flask, list[CompiledDefinition]], method: Method,
                                  expected: tuple[int, int]) -> None:
    app, definitions = population
    assert _nation(app, definitions, method) == expected


def test_window_takes_the_stratum_of_the_nearest_report(population: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = population
    with app.app_context(), db.engine.connect() as connection:
        counts = count_weeks(connection, [W], definitions, W1_S2_IF2_EX, load_strata(connection, "influenzanet"))
    assert counts[W].active[("region", "1081", "all", "all")] == 1  # P3, from its W+1 report
    assert counts[W].active[("region", "1081", "21-64", "female")] == 1
    with app.app_context(), db.engine.connect() as connection:
        w0 = count_weeks(connection, [W], definitions, W0, load_strata(connection, "influenzanet"))
    assert w0[W].active[("region", "1081", "all", "all")] == 0


def test_several_weeks_in_one_statement_equal_one_at_a_time(population: tuple[Flask, list[CompiledDefinition]]
                                                            ) -> None:
    app, definitions = population
    weeks = [week(n) for n in range(-3, 3)]
    for method in ALL_METHODS:
        with app.app_context(), db.engine.connect() as connection:
            strata = load_strata(connection, "influenzanet")
            together = count_weeks(connection, weeks, definitions, method, strata)
            for monday in weeks:
                alone = count_weeks(connection, [monday], definitions, method, strata)[monday]
                assert (together[monday].active, together[monday].cases) == (alone.active, alone.cases), method.key


def test_every_method_is_valid() -> None:
    for method in ALL_METHODS:
        assert check(method) is method


# Arbitrary small populations across a season boundary (1 September 2025 is a Monday).
SEASON_START = dt.date(2025, 9, 1)
report_strategy = st.fixed_dictionaries({
    "offset": st.integers(-3, 2),
    "day": st.integers(0, 6),
    "symptoms": st.sets(st.sampled_from(["cough", "fever", "runny_nose", "loss_of_smell"]), max_size=2),
    "start": st.none() | st.integers(-9, 0),
    "fever_start": st.none() | st.integers(-4, 0),
    "same_illness": st.none() | st.sampled_from(["yes", "no"]),
    "hour": st.integers(0, 23),
})
person_strategy = st.fixed_dictionaries({
    "region": st.sampled_from([1081, 1084]),
    "sex": st.sampled_from(["female", "male"]),
    "age": st.sampled_from([10, 40, 70]),
    "reports": st.lists(report_strategy, min_size=1, max_size=5, unique_by=lambda r: r["offset"]),
})


def _insert_population(connection: Connection, persons: list[dict[str, Any]]) -> None:
    people = People(connection)
    for spec in persons:
        profile = people.person(spec["region"], spec["sex"], SEASON_START.year - spec["age"])
        for report in spec["reports"]:
            monday = SEASON_START + dt.timedelta(weeks=report["offset"])
            report_day = monday + dt.timedelta(days=report["day"])
            symptoms = sorted(report["symptoms"])
            start = report_day + dt.timedelta(days=report["start"]) if symptoms and report["start"] is not None \
                else None
            fever = report_day + dt.timedelta(days=report["fever_start"]) \
                if "fever" in symptoms and report["fever_start"] is not None else None
            people.report(profile, monday, day=report["day"], symptoms=symptoms, symptom_start=start,
                          fever_start=fever, same_illness=report["same_illness"] if symptoms else None,
                          submitted_at=dt.datetime.combine(report_day, dt.time(report["hour"]), dt.timezone.utc))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(persons=st.lists(person_strategy, min_size=1, max_size=7))
def test_sql_equals_reference_for_every_method(app: Flask, persons: list[dict[str, Any]]) -> None:
    weeks = [SEASON_START + dt.timedelta(weeks=n) for n in (-2, -1, 0, 1)]
    with app.app_context():
        definitions = load_definitions(db.session, ["covid.ecdc", "cli", "covid.menni2020"])
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                _insert_population(connection, persons)
                reports = all_reports(connection)
                strata = load_strata(connection, "influenzanet")
                for method in ALL_METHODS:
                    counts = count_weeks(connection, weeks, definitions, method, strata)
                    for monday in weeks:
                        active, cases = reference_counts(reports, monday, definitions, method, BANDS)
                        for cell, n in counts[monday].active.items():
                            assert n == active[cell], (method.key, monday, cell)
                            for i, d in enumerate(definitions):
                                assert counts[monday].cases[i][cell] == cases[(cell, d.key)], (method.key, monday,
                                                                                               cell, d.key)
            finally:
                transaction.rollback()
