"""Fixtures for the dashboard and the export: staff users, signed-in clients, API tokens and published
estimates (inserted as the scheduler would write them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.extensions import db
from reporting.models import IncidenceEstimate
from reporting.staff.service import create_api_token, create_staff_user

PASSWORD = "correct horse battery staple"
WEEK1 = dt.date(2026, 1, 5)  # 2026-W02
WEEK2 = dt.date(2026, 1, 12)  # 2026-W03
WEEK3 = dt.date(2026, 1, 19)  # 2026-W04


def estimate(week: dt.date, geo_code: str = "DK", *, definition: str = "covid.ecdc", method: str = "w0",
             active: int | None = 1000, cases: int | None = 20, incidence: float | None = 0.02,
             lower: float | None = 0.012, upper: float | None = 0.031, missing_reason: int = 0,
             issue: dt.date | None = None, age_band: str = "all", sex: str = "all") -> IncidenceEstimate:
    return IncidenceEstimate(
        week=week, geo_type="nation" if geo_code == "DK" else "region", geo_code=geo_code, age_band=age_band,
        sex=sex, definition_key=definition, definition_version=1, method=method, active=active, cases=cases,
        incidence=incidence, lower_95=lower, upper_95=upper, missing_reason=missing_reason,
        issue=issue or week + dt.timedelta(days=8))


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
    and a revised (later issue) national figure for week 1."""
    rows = []
    for i, week in enumerate((WEEK1, WEEK2, WEEK3)):
        rows.append(estimate(week, "DK", incidence=0.010 * (i + 1), lower=0.008 * (i + 1), upper=0.013 * (i + 1),
                             cases=50 * (i + 1), active=5000))
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


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., str]:
    def make(role: str, email: str | None = None, password: str = PASSWORD) -> str:
        email = email or f"{role}@example.org"
        with app.app_context():
            create_staff_user(email, role, password)
        return email

    return make


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    client.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")  # assertions read English text
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


@pytest.fixture
def staff_client(app: Flask, make_staff: Callable[..., str]) -> Callable[[str], FlaskClient]:
    """``staff_client(role)``: a test client signed in as a new staff user with that role."""
    def make(role: str) -> FlaskClient:
        client = app.test_client()
        response = sign_in(client, make_staff(role))
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def api_token(app: Flask) -> Callable[..., str]:
    def make(name: str = "ssi-import", scopes: str = "export:read", days: int | None = 30) -> str:
        with app.app_context():
            return create_api_token(name, scopes, days).secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
