"""Fixtures for the dashboard and the export: published estimates and participation, inserted as the scheduler
would write them. Staff users, signed-in clients and API tokens come from tests/conftest.py and
tests/reporting/staff.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask

from reporting.extensions import db
from reporting.models import IncidenceEstimate
from scheduler.incidence.estimates import FINAL_AFTER_DAYS

WEEK1 = dt.date(2026, 1, 5)  # 2026-W02
WEEK2 = dt.date(2026, 1, 12)  # 2026-W03
WEEK3 = dt.date(2026, 1, 19)  # 2026-W04


def estimate(week: dt.date, geo_code: str = "DK", *, definition: str = "covid.ecdc", method: str = "w0",
             active: int | None = 1000, cases: int | None = 20, incidence: float | None = 0.02,
             lower: float | None = 0.012, upper: float | None = 0.031, missing_reason: int = 0,
             issue: dt.date | None = None, age_band: str = "all", sex: str = "all",
             final: bool = True) -> IncidenceEstimate:
    return IncidenceEstimate(
        week=week, geo_type="nation" if geo_code == "DK" else "region", geo_code=geo_code, age_band=age_band,
        sex=sex, definition_key=definition, definition_version=1, method=method, active=active, cases=cases,
        incidence=incidence, lower_95=lower, upper_95=upper, missing_reason=missing_reason,
        issue=issue or week + dt.timedelta(days=FINAL_AFTER_DAYS if final else 8), final=final)


def withheld(week: dt.date, geo_code: str, reason: int = 3, **kwargs: Any) -> IncidenceEstimate:
    """A suppressed cell as the scheduler writes it: no figures, a reason code."""
    return estimate(week, geo_code, cases=None, incidence=None, lower=None, upper=None, missing_reason=reason,
                    **kwargs)


@pytest.fixture
def publish(app: Flask) -> Callable[[Iterable[IncidenceEstimate]], None]:
    def insert(rows: Iterable[IncidenceEstimate]) -> None:
        with app.app_context():
            db.session.add_all(list(rows))
            db.session.commit()

    return insert


@pytest.fixture
def published(publish: Callable[[Iterable[IncidenceEstimate]], None]) -> None:
    """Three weeks of covid.ecdc: Denmark and the five regions; Region Nordjylland suppressed in week 3,
    and for week 1 nationally a provisional issue (staff only) and the final one, with another figure."""
    rows = []
    for i, week in enumerate((WEEK1, WEEK2, WEEK3)):
        rows.append(estimate(week, "DK", incidence=0.010 * (i + 1), lower=0.008 * (i + 1), upper=0.013 * (i + 1),
                             cases=50 * (i + 1), active=5000, final=week != WEEK1))
        for j, code in enumerate(("1081", "1082", "1083", "1084", "1085")):
            if code == "1081" and week == WEEK3:
                rows.append(withheld(week, code, reason=3, active=400))
            else:
                rate = 0.004 * (j + 1) + 0.001 * i
                rows.append(estimate(week, code, incidence=rate, lower=rate * 0.7, upper=rate * 1.4,
                                     cases=10 + j, active=1000))
    rows.append(estimate(WEEK1, "DK", incidence=0.015, lower=0.012, upper=0.018, cases=75, active=5000,
                         issue=WEEK1 + dt.timedelta(days=15)))
    rows.append(estimate(WEEK1, "DK", definition="ili.ecdc", method="w1_s2_if2_ex", incidence=0.003,
                         lower=0.002, upper=0.005, cases=15, active=5000))
    publish(rows)


def participation(week: dt.date, geo_code: str = "DK", *, registered: int | None = 8000,
                  active: int | None = 5000, new_profiles: int | None = 120, response_rate: float | None = 0.625,
                  missing_reason: int = 0, issue: dt.date | None = None) -> Any:
    from reporting.models import ParticipationEstimate

    return ParticipationEstimate(
        week=week, geo_type="nation" if geo_code == "DK" else "region", geo_code=geo_code, registered=registered,
        active=active, new_profiles=new_profiles, response_rate=response_rate, missing_reason=missing_reason,
        issue=issue or week + dt.timedelta(days=8))


@pytest.fixture
def published_details(publish: Callable[[Iterable[Any]], None]) -> None:
    """Week 3 of covid.ecdc in Region Hovedstaden by age band and sex (the 65+ men suppressed), a standardised
    national series, and participation for Denmark in weeks 1-3."""
    rows: list[Any] = []
    for i, week in enumerate((WEEK1, WEEK2, WEEK3)):
        row = estimate(week, "DK", incidence=0.010 * (i + 1), lower=0.008 * (i + 1), upper=0.013 * (i + 1),
                       cases=50 * (i + 1), active=5000)
        row.standardised_incidence = 0.011 * (i + 1)
        row.standardised_lower_95 = 0.009 * (i + 1)
        row.standardised_upper_95 = 0.014 * (i + 1)
        rows.append(row)
        rows.append(participation(week, active=5000 + 100 * i, new_profiles=100 + 10 * i,
                                  response_rate=0.6 + 0.01 * i))
    for k, band in enumerate(("0-20", "21-64", "65+")):
        for m, sex in enumerate(("all", "female", "male")):
            if band == "65+" and sex == "male":
                rows.append(withheld(WEEK3, "1084", reason=3, age_band=band, sex=sex, active=150))
            else:
                rate = 0.005 * (k + 1) + 0.001 * m
                rows.append(estimate(WEEK3, "1084", age_band=band, sex=sex, incidence=rate, lower=rate * 0.8,
                                     upper=rate * 1.25, cases=10 + k, active=800))
    rows.append(estimate(WEEK3, "1084", incidence=0.012, lower=0.01, upper=0.015, cases=40, active=3000))
    publish(rows)
