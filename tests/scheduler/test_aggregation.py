"""Method w0 in SQL: known answers on a hand-made population, and agreement with the Python reference."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection

from reporting.extensions import db
from scheduler.incidence.counting import count_week
from scheduler.incidence.definitions import CompiledDefinition, load_definitions
from scheduler.incidence.methods import W0, get_method
from scheduler.incidence.strata import load_strata
from scheduler.synthetic import Epidemic, generate

from scheduler.incidence.reference import reference_counts

from .factories import People, W, all_reports, week

BANDS = [("0-20", 0, 20), ("21-64", 21, 64), ("65+", 65, 150)]


def build_known_population(connection: Connection) -> None:
    """Ten people around week W (2026-W10); the expected counts are worked out in the tests' comments."""
    people = People(connection)
    day = lambda monday, n: monday + dt.timedelta(days=n)  # noqa: E731
    # A: fever + cough, sudden, onset in W -> ILI, ARI, CLI, fever+cough, COVID, any.
    a = people.person(1084, "female", 1980)
    people.report(a, W, symptoms=["fever", "cough"], sudden_onset=True, symptom_start=day(W, 1),
                  fever_start=day(W, 1))
    # B: healthy on Monday of W, then a cough starting on Friday of W, reported in W+1 -> a case in W.
    b = people.person(1084, "male", 1996)
    people.report(b, W, day=0)
    people.report(b, week(1), symptoms=["cough"], symptom_start=day(W, 4), same_illness="no")
    # C: cough that started in W-1 -> active in W, not a case in W.
    c = people.person(1084, "female", 1956)
    people.report(c, W, symptoms=["cough"], symptom_start=day(W, -3))
    # D: a 10-year-old with sudden fever, headache and sore throat, fever from Wednesday -> ILI and COVID.
    d = people.person(1082, "female", 2016)
    people.report(d, W, day=4, symptoms=["fever", "headache", "sore_throat"], sudden_onset=True,
                  fever_start=day(W, 2))
    # E: reports only in W+1 (onset in W): not active in W, so counted nowhere in W.
    e = people.person(1082, "male", 1986)
    people.report(e, week(1), symptoms=["fever", "cough"], symptom_start=day(W, 5))
    # F: cough in W-1; in W "same illness", start unknown (onset = report day, in W) 7 days after the
    # previous report -> the same episode, not a new case.
    f = people.person(1084, "other", 2001)
    people.report(f, week(-1), symptoms=["cough"], symptom_start=day(week(-1), 1))
    people.report(f, W, symptoms=["cough"], same_illness="yes")
    # G: "same illness" but the previous report is 21 days old -> a new case in W.
    g = people.person(1084, "female", 1976)
    people.report(g, week(-3), symptoms=["cough"], symptom_start=day(week(-3), 1))
    people.report(g, W, symptoms=["cough"], same_illness="yes")
    # H: two reports carrying an onset in W (W and W+1, a new illness) -> one case, not two.
    h = people.person(1085, "male", 1961)
    people.report(h, W, symptoms=["cough"], symptom_start=day(W, 0))
    people.report(h, week(1), symptoms=["cough"], symptom_start=day(W, 5), same_illness="no")
    # I: 20 years old, sudden loss of smell -> COVID (not CLI, not ILI).
    i = people.person(1081, "female", 2006)
    people.report(i, W, symptoms=["loss_of_smell"], sudden_onset=True, symptom_start=day(W, 0))
    # J: healthy in W; a report two weeks later says the cough began in W -> beyond W+1, not counted.
    j = people.person(1084, "female", 1980)
    people.report(j, W)
    people.report(j, week(2), symptoms=["cough"], symptom_start=day(W, 6))


@pytest.fixture
def known(app: Flask) -> Iterator[tuple[Flask, list[CompiledDefinition]]]:
    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
        definitions = load_definitions(db.session)
        db.session.close()
        yield app, definitions


def _counts(app: Flask, definitions: list[CompiledDefinition], monday: dt.date,
            method: Any = W0) -> dict[tuple[str, str, str, str, str], tuple[int, int]]:
    with app.app_context(), db.engine.connect() as connection:
        strata = load_strata(connection, "influenzanet")
        cells = count_week(connection, monday, definitions, method, strata)
    return {(c.geo_type, c.geo_code, c.age_band, c.sex, c.definition_key): (c.active, c.cases) for c in cells}


def test_known_answers_for_week_w(known: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = known
    counts = _counts(app, definitions, W)
    nation = {key[4]: value for key, value in counts.items() if key[:4] == ("nation", "DK", "all", "all")}
    # Active: A B C D F G H I J (E reported only in W+1).
    # COVID: A B D G H I; CLI and fever+cough: A; ILI: A D; ARI: A; any symptom: A B D G H I.
    # Menni model (female 0, male 1): only I (20, female, loss of smell: -1.3217 - 0.1433 + 1.7471 = 0.28 > 0).
    # A at 46 with fever and cough: -1.3217 - 0.3296 = -1.65; H (male, 65, cough, no smell): -1.40 -> no.
    assert nation == {"covid.ecdc": (9, 6), "cli": (9, 1), "fever.cough": (9, 1), "ili.ecdc": (9, 2),
                      "ari": (9, 1), "any.symptom": (9, 6), "covid.menni2020": (9, 1)}
    assert counts[("region", "1084", "21-64", "female", "covid.ecdc")] == (3, 2)  # A G J
    assert counts[("region", "1084", "21-64", "all", "covid.ecdc")] == (5, 3)  # A B F G J
    assert counts[("region", "1084", "all", "all", "covid.ecdc")] == (6, 3)  # + C
    assert counts[("region", "1084", "65+", "female", "covid.ecdc")] == (1, 0)  # C
    assert counts[("region", "1082", "all", "all", "covid.ecdc")] == (1, 1)  # D (E not active)
    assert counts[("region", "1081", "0-20", "female", "covid.ecdc")] == (1, 1)  # I, aged 20
    assert counts[("nation", "DK", "0-20", "all", "ili.ecdc")] == (2, 1)  # D I
    assert counts[("nation", "DK", "all", "female", "covid.ecdc")] == (6, 4)  # A C D G I J
    assert counts[("nation", "DK", "65+", "male", "covid.ecdc")] == (1, 1)  # H, once
    assert counts[("nation", "DK", "21-64", "other", "any.symptom")] == (1, 0)  # F, same episode
    assert counts[("region", "1083", "all", "all", "covid.ecdc")] == (0, 0)  # nobody, still in the grid
    # The full grid: 6 geographies x 4 age bands x 4 sexes x 7 definitions (six and the model).
    assert len(counts) == 6 * 4 * 4 * 7


def test_week_after(known: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = known
    counts = _counts(app, definitions, week(1))
    # Active in W+1: B E H; their onsets are all in W, so no cases in W+1.
    assert counts[("nation", "DK", "all", "all", "covid.ecdc")] == (3, 0)
    assert counts[("region", "1082", "all", "male", "cli")] == (1, 0)


def test_same_episode_rule_is_a_method_parameter(known: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = known
    without = dataclasses.replace(W0, key="w0-no-episodes", same_episode_days=None)
    counts = _counts(app, definitions, W, without)
    assert counts[("nation", "DK", "21-64", "other", "any.symptom")] == (1, 1)  # F now counts
    assert counts[("nation", "DK", "all", "all", "covid.ecdc")] == (9, 7)
    no_lookahead = dataclasses.replace(W0, key="w0-same-week", onset_lookahead_weeks=0)
    assert _counts(app, definitions, W, no_lookahead)[("nation", "DK", "all", "all", "covid.ecdc")] == (9, 5)  # - B


def test_margins_are_sums_of_finer_cells(known: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = known
    counts = _counts(app, definitions, W)
    regions = ["1081", "1082", "1083", "1084", "1085"]
    for d in definitions:
        for band in ["0-20", "21-64", "65+", "all"]:
            for sex in ["female", "male", "other", "all"]:
                nation = counts[("nation", "DK", band, sex, d.key)]
                summed = [counts[("region", r, band, sex, d.key)] for r in regions]
                assert nation == (sum(a for a, _ in summed), sum(c for _, c in summed))


def test_sql_equals_python_reference(known: tuple[Flask, list[CompiledDefinition]]) -> None:
    app, definitions = known
    with app.app_context(), db.engine.connect() as connection:
        reports = all_reports(connection)
    for monday in (week(-1), W, week(1), week(2)):
        _assert_matches_reference(app, definitions, reports, monday)


def _assert_matches_reference(app: Flask, definitions: list[CompiledDefinition], reports: list[dict[str, Any]],
                              monday: dt.date) -> None:
    counts = _counts(app, definitions, monday)
    active, cases = reference_counts(reports, monday, definitions, W0, BANDS)
    for (geo_type, geo_code, band, sex, key), (n_active, n_cases) in counts.items():
        cell = (geo_type, geo_code, band, sex)
        assert n_active == active[cell], (monday, cell)
        assert n_cases == cases[(cell, key)], (monday, cell, key)


def test_sql_equals_python_reference_on_a_synthetic_population(app: Flask) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            population = generate(connection, participants=400, weeks=6, seed=7, end_week=W,
                                  today=W + dt.timedelta(days=6), epidemic=Epidemic(covid_peak=0.15),
                                  show_progress=False)
            reports = all_reports(connection)
        definitions = load_definitions(db.session)
        db.session.close()
    assert population.reports == len(reports) > 1000
    total_cases = 0
    for n in range(-5, 1):
        _assert_matches_reference(app, definitions, reports, week(n))
        total_cases += _counts(app, definitions, week(n))[("nation", "DK", "all", "all", "covid.ecdc")][1]
    assert total_cases > 50  # the comparison saw many cases, not an empty table


def test_invalid_method_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        get_method("w9")
    from scheduler.incidence import methods

    broken = dataclasses.replace(W0, key="broken", window_weeks=-1, min_reports_in_season=0,
                                 onset_sources=("symptom_start",))
    methods.METHODS["broken"] = broken
    try:
        with pytest.raises(ValueError, match="window_weeks=-1.*min_reports_in_season=0.*must end with 'report'"):
            get_method("broken")
    finally:
        del methods.METHODS["broken"]
