"""Small hand-made populations for known-answer tests (the plain-Python reference is scheduler.incidence.reference)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from reporting.models import Account, Profile, WeeklyReport
from reporting.symptoms import SYMPTOMS
from reporting.weeks import iso_year, monday_of, onset_date

# One municipality per region, for reports that only need a valid pair.
MUNICIPALITY_OF = {1081: 851, 1082: 751, 1083: 461, 1084: 101, 1085: 265}
W = dt.date(2026, 3, 2)  # a Monday (2026-W10)
_counter = itertools.count(1)


def week(n: int) -> dt.date:
    """The Monday n weeks after W (negative: before)."""
    return W + dt.timedelta(weeks=n)


class People:
    """Inserts accounts, profiles and reports the way the citizen service fills them."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.profiles: dict[str, dict[str, Any]] = {}

    def person(self, region: int = 1084, sex: str = "female", birth_year: int = 1980) -> str:
        n = next(_counter)
        account_id = self.connection.execute(insert(Account.__table__).values(
            email=f"person-{n}@example.invalid", language="da", status="active",
            created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), reminder_weekday=0)
            .returning(Account.__table__.c.id)).scalar_one()
        profile_id = f"p{n:031d}"
        self.connection.execute(insert(Profile.__table__).values(
            id=profile_id, account_id=account_id, relation="self", birth_year=birth_year, sex=sex,
            municipality_code=MUNICIPALITY_OF[region], intake_version="intake-1", intake_answers={},
            created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
            updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))
        self.profiles[profile_id] = {"region": region, "sex": sex, "birth_year": birth_year}
        return profile_id

    def report(self, profile_id: str, monday: dt.date, day: int = 2, symptoms: Sequence[str] = (),
               same_illness: str | None = None, symptom_start: dt.date | None = None,
               fever_start: dt.date | None = None, sudden_onset: bool | None = None,
               submitted_at: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        person = self.profiles[profile_id]
        report_day = monday + dt.timedelta(days=day)
        onset = onset_date(report_day, fever_start, symptom_start)
        row: dict[str, Any] = {
            "profile_id": profile_id, "week": monday,
            "submitted_at": submitted_at or dt.datetime.combine(report_day, dt.time(12), dt.timezone.utc),
            "revision": 1, "questionnaire_version": "weekly-1",
            "answers": {"symptoms": list(symptoms) or ["no_symptoms"]},
            "region_code": person["region"], "municipality_code": MUNICIPALITY_OF[person["region"]],
            "sex": person["sex"], "birth_year": person["birth_year"],
            "age_years": iso_year(monday) - person["birth_year"], "no_symptoms": not symptoms,
            **{name: name in symptoms for name in SYMPTOMS},
            "same_illness": same_illness, "symptom_start": symptom_start, "symptom_end": None,
            "sudden_onset": sudden_onset, "fever_start": fever_start, "fever_sudden": None,
            "temperature_measured": None, "highest_temperature": None, "tested": None, "test_result": None,
            "onset_date": onset, "onset_week": monday_of(onset),
        }
        row.update(fields)
        self.connection.execute(insert(WeeklyReport.__table__), [row])
        return row


def all_reports(connection: Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in connection.execute(select(WeeklyReport.__table__)).mappings()]
