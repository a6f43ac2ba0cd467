"""Demo data for the attacker: a synthetic population, aggregated as the scheduler would, its true counts,
an API token with every scope, and one withdrawal followed by the routine re-run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, Profile, StandardPopulation, WeeklyReport
from reporting.staff.service import TOKEN_SCOPES, create_api_token
from reporting.weeks import weeks_between
from scheduler.incidence import aggregate_weeks, report_weeks
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import METHODS
from scheduler.incidence.strata import load_strata
from scheduler.synthetic import generate_into

from .attacker import Truth, truth_from_counts

TODAY = dt.date(2026, 3, 4)  # a Wednesday; the synthetic reports stop here
FINAL_AFTER = dt.timedelta(days=14)  # a week is final once aggregated 14 days after its Monday


@dataclass
class Scenario:
    participants: int
    weeks: list[dt.date]
    issue: dt.date  # the run that made every week final
    truths: dict[dt.date, Truth] = field(default_factory=dict)  # run date -> true counts
    token: str = ""


def build(app: Flask, participants: int, weeks: int, seed: int) -> Scenario:
    """Generate, aggregate every method and definition once (all weeks final), record the truth, make a token."""
    with app.app_context():
        generate_into(db.engine, participants=participants, weeks=weeks, seed=seed, today=TODAY,
                      show_progress=False)
        with db.engine.connect() as connection:
            first, last = report_weeks(connection)
        mondays = weeks_between(first, last)
        scenario = Scenario(participants, mondays, last + FINAL_AFTER + dt.timedelta(days=1))
        rerun(app, scenario, scenario.issue)
        scenario.token = create_api_token("privacy-attack", " ".join(TOKEN_SCOPES), 30).secret
    return scenario


def rerun(app: Flask, scenario: Scenario, issue: dt.date) -> None:
    """Aggregate every week, method and definition with ``issue``, and record the true counts of that run."""
    with app.app_context():
        definitions = load_definitions(db.session)
        aggregate_weeks(scenario.weeks, definitions, list(METHODS), issue=issue, engine=db.engine, config=app.config)
        scenario.truths[issue] = true_counts(app, scenario.weeks)


def true_counts(app: Flask, weeks: list[dt.date]) -> Truth:
    with app.app_context():
        definitions = load_definitions(db.session)
        with db.engine.connect() as connection:
            strata = load_strata(connection, app.config["COVIDMETER_AGE_BAND_SCHEME"])
            counts = {key: count_weeks(connection, weeks, definitions, method, strata)
                      for key, method in METHODS.items()}
        return truth_from_counts(counts, definitions)


def standard_weights(app: Flask) -> dict[str, float]:
    """The published standard population (docs and table ``standard_populations``): public knowledge."""
    with app.app_context():
        rows = db.session.execute(select(StandardPopulation.age_band, StandardPopulation.population).where(
            StandardPopulation.name == app.config.get("COVIDMETER_STANDARD_POPULATION", "dk-2024"),
            StandardPopulation.age_band_scheme == app.config["COVIDMETER_AGE_BAND_SCHEME"])).all()
        return {band: float(n) for band, n in rows}


def withdraw_someone(app: Flask, seed: int = 0) -> dict[str, Any]:
    """Withdraw one account with reports in the last full week (a lone adult, so one person leaves)."""
    from reporting.accounts.data_rights import withdraw

    with app.app_context():
        last = db.session.scalar(select(func.max(WeeklyReport.week)))
        singles = (select(Profile.account_id).group_by(Profile.account_id).having(func.count() == 1))
        candidates = db.session.scalars(
            select(Profile.account_id).join(WeeklyReport, WeeklyReport.profile_id == Profile.id)
            .where(WeeklyReport.week < last, Profile.account_id.in_(singles))
            .group_by(Profile.account_id).having(func.count() >= 2).order_by(Profile.account_id)).all()
        account_id = candidates[seed % len(candidates)]
        reports = db.session.scalar(select(func.count()).select_from(WeeklyReport).join(Profile).where(
            Profile.account_id == account_id))
        withdraw(account_id, channel="test")
        assert db.session.get(Account, account_id) is None
        return {"account_id": account_id, "reports": reports}
