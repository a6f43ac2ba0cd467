"""Fixtures for the dashboard and the export: staff users, signed-in clients, API tokens and published
estimates (inserted as the scheduler would write them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import pyotp
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import IncidenceEstimate, StaffUser, utcnow
from reporting.staff.service import create_api_token, create_staff_user

PASSWORD = "correct horse battery staple"
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
        issue=issue or week + dt.timedelta(days=8), final=final)


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


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., str]:
    """``make_staff(role, email=None, password=PASSWORD, enrolled=True)``: a staff user; ``enrolled`` gives
    it a confirmed TOTP secret (``totp_secret(email)``), as after its first sign-in."""
    def make(role: str, email: str | None = None, password: str = PASSWORD, enrolled: bool = True) -> str:
        email = email or f"{role}@example.org"
        with app.app_context():
            user, _ = create_staff_user(email, role, password)
            if enrolled:
                user.totp_secret = totp_secret(email)
                user.totp_confirmed_at = utcnow()
                db.session.commit()
        return email

    return make


def totp_secret(email: str) -> str:
    """A fixed base32 secret per test user, so a test can compute codes like an authenticator app."""
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(email.encode()).digest()[:20]).decode()


def totp_code(email: str, steps_ahead: int = 0) -> str:
    totp = pyotp.TOTP(totp_secret(email))
    import time

    return totp.at(time.time() + 30 * steps_ahead)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """The password step only."""
    client.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")  # assertions read English text
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


def sign_in_fully(client: FlaskClient, email: str, password: str = PASSWORD, code: str | None = None,
                  **extra: str) -> Any:
    """Password, then the TOTP code; returns the response of the code step."""
    first = sign_in(client, email, password, **extra)
    assert first.status_code == 302 and "/staff/login/code" in first.headers["Location"], first.status_code
    return client.post("/staff/login/code", data={"code": code or totp_code(email.lower()), **extra})


@pytest.fixture
def staff_client(app: Flask, make_staff: Callable[..., str]) -> Callable[..., FlaskClient]:
    """``staff_client(role)``: a test client signed in (password and TOTP) as a new staff user."""
    def make(role: str, email: str | None = None) -> FlaskClient:
        client = app.test_client()
        response = sign_in_fully(client, make_staff(role, email))
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


def staff_user(app: Flask, email: str) -> StaffUser:
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(user)
        return user


@pytest.fixture
def api_token(app: Flask) -> Callable[..., str]:
    def make(name: str = "ssi-import", scopes: str = "export:read", days: int | None = 30) -> str:
        with app.app_context():
            return create_api_token(name, scopes, days).secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


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
