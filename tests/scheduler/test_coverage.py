"""Trust in the numbers: on a synthetic population whose true incidence the generator knows, the 95 % Poisson
interval of the crude incidence covers the truth in at least 90 % of the region-weeks with enough participants.

The estimand: any.symptom under w0 counts the active participants whose illness began in W. The generator's
truth is the weekly onset probability p of a participant not already ill (constant within a region x age band),
so the expected incidence among participants is sum_b p_b at_risk_b / sum_b participants_b. Reports are made
on Sundays and healthy weeks carry no symptom noise, so every onset of W is reported with its onset in W (the
generator's other realism, such as unknown start dates, then cannot move an onset out of its week).
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from reporting.extensions import db
from reporting.weeks import format_iso_week
from scheduler import synthetic
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import W0
from scheduler.incidence.statistics import poisson_interval
from scheduler.incidence.strata import load_strata

from .factories import W

REGIONS = ("1081", "1082", "1083", "1084", "1085")


def test_interval_covers_the_truth(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "REPORT_WEEKDAY_WEIGHTS", (0, 0, 0, 0, 0, 0, 1.0))
    weeks = 12
    with app.app_context():
        with db.engine.begin() as connection:
            population = synthetic.generate(
                connection, participants=6000, weeks=weeks, seed=21, end_week=W, today=W + dt.timedelta(days=6),
                epidemic=synthetic.Epidemic(covid_peak=0.04, noise_rate=0.0), show_progress=False)
        definitions = load_definitions(db.session, ["any.symptom"])
        db.session.close()
        mondays = [population.first_week + dt.timedelta(weeks=n) for n in range(weeks)]
        with db.engine.connect() as connection:
            counts = count_weeks(connection, mondays, definitions, W0, load_strata(connection, "influenzanet"))
    truth = {}
    for cell in population.truth:
        if cell["participants"]:
            key = (cell["week"], str(cell["region_code"]))
            onsets, people = truth.get(key, (0.0, 0))
            truth[key] = (onsets + cell["probability"]["any"] * cell["at_risk"], people + cell["participants"])
    covered = checked = 0
    for monday in mondays:
        for region in REGIONS:
            cell = ("region", region, "all", "all")
            active, cases = counts[monday].active[cell], counts[monday].cases[0][cell]
            if active < 200:  # the region-weeks with enough participants
                continue
            expected = truth[(format_iso_week(monday), region)]
            true_incidence = expected[0] / expected[1]
            lower, upper = poisson_interval(cases, active)
            checked += 1
            covered += lower <= true_incidence <= upper
    assert checked >= 40  # most of the 60 region-weeks qualify: the test is not vacuous
    assert covered / checked >= 0.90, (covered, checked)
