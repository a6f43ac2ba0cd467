"""Weekly reports: one row per profile per ISO week.

The answers are kept as submitted (JSON, with the questionnaire version), and the fields the case
definitions need are also stored typed so the aggregation runs in SQL. The profile's stratum (region,
municipality, sex, birth year, age) is copied onto the report when it is written: a report describes the
person as they were that week, and the aggregation needs no join.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class WeeklyReport(Base):
    __tablename__ = "weekly_reports"
    __table_args__ = (
        UniqueConstraint("profile_id", "week"),
        Index("ix_weekly_reports_week_region", "week", "region_code"),
        Index("ix_weekly_reports_onset_week", "onset_week"),
        # The few reports the aggregation looks at again after its one-pass count (migration 0005).
        Index("ix_weekly_reports_late_onset", "onset_week", postgresql_where=text("onset_week < week"),
              sqlite_where=text("onset_week < week")),
        Index("ix_weekly_reports_same_illness", "week",
              postgresql_where=text("same_illness = 'yes' AND onset_week = week"),
              sqlite_where=text("same_illness = 'yes' AND onset_week = week")),
        CheckConstraint("revision >= 1", name="revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    week: Mapped[dt.date]  # Monday of the ISO week reported on
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(SmallInteger, default=1)
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]]

    # The person that week.
    region_code: Mapped[int] = mapped_column(ForeignKey("regions.code"))
    municipality_code: Mapped[int] = mapped_column(ForeignKey("municipalities.code"))
    sex: Mapped[str] = mapped_column(String(8))
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    age_years: Mapped[int] = mapped_column(SmallInteger)  # ISO year of the week minus birth year

    # Symptoms in the past week (reporting.symptoms.SYMPTOMS), plus the explicit "no symptoms".
    no_symptoms: Mapped[bool] = mapped_column(default=False)
    fever: Mapped[bool] = mapped_column(default=False)
    chills: Mapped[bool] = mapped_column(default=False)
    runny_nose: Mapped[bool] = mapped_column(default=False)
    sneezing: Mapped[bool] = mapped_column(default=False)
    sore_throat: Mapped[bool] = mapped_column(default=False)
    cough: Mapped[bool] = mapped_column(default=False)
    shortness_of_breath: Mapped[bool] = mapped_column(default=False)
    headache: Mapped[bool] = mapped_column(default=False)
    muscle_pain: Mapped[bool] = mapped_column(default=False)
    chest_pain: Mapped[bool] = mapped_column(default=False)
    tiredness: Mapped[bool] = mapped_column(default=False)
    loss_of_appetite: Mapped[bool] = mapped_column(default=False)
    coloured_sputum: Mapped[bool] = mapped_column(default=False)
    watery_eyes: Mapped[bool] = mapped_column(default=False)
    nausea: Mapped[bool] = mapped_column(default=False)
    vomiting: Mapped[bool] = mapped_column(default=False)
    diarrhoea: Mapped[bool] = mapped_column(default=False)
    stomach_ache: Mapped[bool] = mapped_column(default=False)
    loss_of_smell: Mapped[bool] = mapped_column(default=False)
    loss_of_taste: Mapped[bool] = mapped_column(default=False)
    nose_bleed: Mapped[bool] = mapped_column(default=False)
    rash: Mapped[bool] = mapped_column(default=False)
    other_symptom: Mapped[bool] = mapped_column(default=False)

    # Follow-up questions (NULL when not asked or not answered).
    same_illness: Mapped[str | None] = mapped_column(String(12))
    symptom_start: Mapped[dt.date | None]
    symptom_end: Mapped[dt.date | None]
    sudden_onset: Mapped[bool | None]
    fever_start: Mapped[dt.date | None]
    fever_sudden: Mapped[bool | None]
    temperature_measured: Mapped[bool | None]
    highest_temperature: Mapped[str | None] = mapped_column(String(12))
    # Inputs of the symptom-based prediction model (Menni et al. 2020), asked as follow-ups.
    persistent_cough: Mapped[bool | None]
    severe_fatigue: Mapped[bool | None]
    skipped_meals: Mapped[bool | None]
    tested: Mapped[str | None] = mapped_column(String(16))  # none | pcr | antigen | both
    test_result: Mapped[str | None] = mapped_column(String(16))  # positive | negative | pending
    # Asked from weekly-2 on (NULL / False in reports given under weekly-1).
    still_ill: Mapped[bool | None]
    flu_tested: Mapped[bool | None]
    flu_test_result: Mapped[str | None] = mapped_column(String(16))  # positive | negative | pending
    care_none: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    care_gp: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    care_helpline: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    care_emergency: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    care_hospital: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    care_other: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    days_off: Mapped[int | None] = mapped_column(SmallInteger)
    vaccinated_season: Mapped[str | None] = mapped_column(String(12))  # covid | flu | both | neither

    # Derived when written: onset = first known of fever start, symptom start, report date.
    onset_date: Mapped[dt.date]
    onset_week: Mapped[dt.date]


class ReportRevision(Base):
    """A superseded version of a report, kept when the same week is answered again."""

    __tablename__ = "report_revisions"
    __table_args__ = (UniqueConstraint("report_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("weekly_reports.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(SmallInteger)
    submitted_at: Mapped[dt.datetime]
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]]


class ReportSubmission(Base):
    """A client-made submission id, so a retried POST is stored once (same id + same body replays,
    same id + another body is a conflict)."""

    __tablename__ = "report_submissions"

    submission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("weekly_reports.id", ondelete="CASCADE"), index=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
