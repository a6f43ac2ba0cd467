"""The synthetic population: deterministic, filled like the citizen service fills reports, and its estimates
follow the truth it records."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import numpy as np
from flask import Flask
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import Account, Municipality, Profile, WeeklyReport
from reporting.questionnaire import load as load_questionnaire
from reporting.questionnaire import to_columns
from reporting.symptoms import SYMPTOMS
from reporting.weeks import format_iso_week, iso_year, monday_of, onset_date
from scheduler.incidence.counting import count_week
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import W0
from scheduler.incidence.strata import load_strata
from scheduler.synthetic import Epidemic, generate

from .factories import W

TZ = ZoneInfo("Europe/Copenhagen")
TODAY = W + dt.timedelta(days=2)  # a Wednesday: the current week is partly reported


def _snapshot(app: Flask, seed: int) -> tuple[list[tuple], object]:
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        population = generate(connection, participants=200, weeks=4, seed=seed, end_week=W, today=TODAY,
                              show_progress=False)
        rows = connection.execute(select(WeeklyReport.profile_id, WeeklyReport.week, WeeklyReport.submitted_at,
                                         WeeklyReport.answers, WeeklyReport.onset_date)
                                  .order_by(WeeklyReport.profile_id, WeeklyReport.week)).all()
        transaction.rollback()
    return [tuple(r) for r in rows], population


def test_deterministic_given_the_seed(app: Flask) -> None:
    first, population = _snapshot(app, 11)
    again, _ = _snapshot(app, 11)
    other, _ = _snapshot(app, 12)
    assert first == again and first != other
    assert len(first) == population.reports > 0


def test_reports_are_filled_like_the_citizen_service(app: Flask) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            population = generate(connection, participants=600, weeks=6, seed=1, end_week=W, today=TODAY,
                                  show_progress=False)
        reports = db.session.scalars(select(WeeklyReport)).all()
        profiles = {p.id: p for p in db.session.scalars(select(Profile))}
        accounts = db.session.scalars(select(Account)).all()
        region_of = dict(db.session.execute(select(Municipality.code, Municipality.region_code)).all())
    assert len(profiles) == 600 and len(accounts) == population.accounts < 600
    assert all(a.email.startswith("participant-") and a.email.endswith("@example.invalid") for a in accounts)
    relations = Counter(p.relation for p in profiles.values())
    assert relations["self"] == len(accounts) and relations["partner"] > 0 and relations["child"] > 0
    assert all(0 <= 2026 - p.birth_year <= 100 for p in profiles.values())
    by_region = Counter(region_of[p.municipality_code] for p in profiles.values())
    assert by_region.most_common(1)[0][0] == 1084 and min(by_region, key=by_region.get) == 1081

    weekly = load_questionnaire("weekly-1")
    symptomatic = 0
    for report in reports:
        profile = profiles[report.profile_id]
        local_day = report.submitted_at.astimezone(TZ).date()
        assert monday_of(local_day) == report.week and local_day <= TODAY
        assert report.questionnaire_version == "weekly-1" and report.revision == 1
        assert (report.region_code, report.municipality_code, report.sex, report.birth_year) == (
            region_of[profile.municipality_code], profile.municipality_code, profile.sex, profile.birth_year)
        assert report.age_years == iso_year(report.week) - profile.birth_year
        assert report.onset_date == onset_date(local_day, report.fever_start, report.symptom_start)
        assert report.onset_week == monday_of(report.onset_date) <= report.week
        named = [s for s in SYMPTOMS if getattr(report, s)]
        assert report.answers["symptoms"] == (named or ["none"])
        assert report.no_symptoms == (not named)
        # The typed columns are exactly what the citizen service's questionnaire stores for these answers.
        for column, value in to_columns(weekly, report.answers).items():
            assert getattr(report, column) == value, (column, report.answers)
        if named:
            symptomatic += 1
            assert report.same_illness in ("yes", "no", "dont_know") and report.sudden_onset is not None
        else:
            assert report.same_illness is None and report.symptom_start is None
        if report.fever_start is not None:
            assert report.fever and report.fever_start <= local_day
    assert 0.05 < symptomatic / len(reports) < 0.5
    assert any(r.same_illness == "yes" for r in reports)  # continuing episodes
    # About 70 % of enrolled participants report in each complete week (the current week is partial).
    complete_weeks = [W - dt.timedelta(weeks=n) for n in range(1, 6)]
    enrolled = sum(1 for p in profiles.values() for monday in complete_weeks
                   if p.created_at.astimezone(TZ).date() <= monday)
    reported = sum(1 for r in reports if r.week in complete_weeks)
    assert 0.62 < reported / enrolled < 0.78


def test_truth_is_recorded_and_estimates_follow_it(app: Flask) -> None:
    weeks = 16
    with app.app_context():
        with db.engine.begin() as connection:
            population = generate(connection, participants=3000, weeks=weeks, seed=4, end_week=W,
                                  today=W + dt.timedelta(days=6), epidemic=Epidemic(covid_peak=0.06),
                                  show_progress=False)
        truth = population.truth
        assert len(truth) == weeks * 5 * 3
        assert all(0 <= c["probability"]["any"] < 0.5 for c in truth if c["participants"])
        # Timing differs by region: the COVID-19 wave peaks earlier in Hovedstaden than in Nordjylland.
        peak = {region: max((c for c in truth if c["region_code"] == region and c["age_band"] == "21-64"),
                            key=lambda c: c["probability"]["covid"])["week"] for region in (1084, 1081)}
        assert peak[1084] < peak[1081]
        # Size differs by age: children's influenza risk is above the 65+ band's in the same week and region.
        cell = {(c["week"], c["region_code"], c["age_band"]): c for c in truth}
        key = (format_iso_week(W), 1084)
        assert cell[(*key, "0-20")]["probability"]["influenza"] > cell[(*key, "65+")]["probability"]["influenza"]

        definitions = load_definitions(db.session, ["covid.ecdc", "any.symptom"])
        estimated, expected = [], []
        with db.engine.connect() as connection:
            strata = load_strata(connection, "influenzanet")
            for n in range(1, weeks - 1):
                monday = W - dt.timedelta(weeks=weeks - 1 - n)
                cells = count_week(connection, monday, definitions, W0, strata)
                nation = {c.definition_key: c for c in cells
                          if (c.geo_type, c.age_band, c.sex) == ("nation", "all", "all")}
                estimated.append(nation["covid.ecdc"].cases / nation["covid.ecdc"].active)
                rows = [c for c in truth if c["week"] == format_iso_week(monday) and c["participants"]]
                expected.append(sum(c["participants"] * (c["probability"]["covid"] + c["probability"]["influenza"])
                                    for c in rows) / sum(c["participants"] for c in rows))
    # The COVID definition tracks the simulated COVID-19 and influenza waves over the weeks.
    assert np.corrcoef(estimated, expected)[0, 1] > 0.8
