"""Reference data and results of the epidemiology: case definitions, age bands, estimates.

The scheduler writes estimates; the dashboard and the export only read them. Suppression is decided
when an estimate is written, so every consumer shows the same withheld cells.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Float, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

# Delphi COVIDcast missing-value codes.
MISSING_NONE = 0
MISSING_NOT_APPLICABLE = 1
MISSING_REGION_EXCEPTION = 2
MISSING_PRIVACY = 3
MISSING_DELETED = 4
MISSING_UNKNOWN = 5
MISSING_LOW_PRECISION = 6  # our extension: fewer active participants than the configured minimum
MISSING_NOT_PUBLISHED = 7  # our extension: a cell counted in the margins only (scheduler.incidence.protection)
MISSING_REASONS = {
    MISSING_NONE: "none",
    MISSING_NOT_APPLICABLE: "not applicable",
    MISSING_REGION_EXCEPTION: "region exception",
    MISSING_PRIVACY: "privacy (suppressed)",
    MISSING_DELETED: "deleted",
    MISSING_UNKNOWN: "unknown",
    MISSING_LOW_PRECISION: "too few active participants",
    MISSING_NOT_PUBLISHED: "not published at this level of detail",
}


class CaseDefinition(Base):
    """A versioned case definition. ``rule`` is a small boolean expression over report fields (see
    scheduler.incidence.definitions) that compiles both to SQL and to a plain-Python reference."""

    __tablename__ = "case_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(SmallInteger)
    label_en: Mapped[str] = mapped_column(String(120))
    label_da: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="definition")  # definition | model
    default_method: Mapped[str] = mapped_column(String(32), default="w0")
    rule: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(default=True)


class CaseFlagBit(Base):
    """Which bit of ``weekly_reports.case_flags`` holds which case definition (scheduler.incidence.caseflags).

    On PostgreSQL ``case_flags`` is a generated column: the database evaluates every active definition once,
    when a report is written or revised, and the aggregation reads one bit instead of re-evaluating the
    rule. The column's expression is built from the definitions' data, so it is not part of the models;
    ``rule_sha256`` ties each bit to the exact rule it was built from.
    """

    __tablename__ = "case_flag_bits"
    __table_args__ = (UniqueConstraint("definition_key", "definition_version"),
                      CheckConstraint("bit BETWEEN 0 AND 62", name="bit"))

    bit: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    definition_key: Mapped[str] = mapped_column(String(40))
    definition_version: Mapped[int] = mapped_column(SmallInteger)
    rule_sha256: Mapped[str] = mapped_column(String(64))


class AgeBand(Base):
    """Age bands by scheme (Influenzanet's 0-20, 21-64, 65+ is the default)."""

    __tablename__ = "age_bands"
    __table_args__ = (UniqueConstraint("scheme", "label"), CheckConstraint("min_age <= max_age", name="range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(16))
    min_age: Mapped[int] = mapped_column(SmallInteger)
    max_age: Mapped[int] = mapped_column(SmallInteger)
    position: Mapped[int] = mapped_column(SmallInteger)


class IncidenceEstimate(Base):
    """One published cell: week x geography x age band x sex x definition x method, as of an issue date.

    A re-run that changes a figure adds a row with a later ``issue`` instead of overwriting, so the figures
    as computed on any date can be recovered (Delphi's issue/lag convention); the staff dashboard shows the
    newest. Outside the service only the week's one ``final`` issue is published, which no re-run revises. ``age_band`` is 'all' and
    ``sex`` is 'all' for the margins. Withheld values are NULL with a reason in ``missing_reason``.
    """

    __tablename__ = "incidence_estimates"
    __table_args__ = (
        UniqueConstraint("week", "geo_type", "geo_code", "age_band", "sex", "definition_key",
                         "definition_version", "method", "issue"),
        Index("ix_incidence_estimates_lookup", "definition_key", "method", "geo_type", "week"),
        # The dashboard's catalogue: which methods and weeks a definition version has (migration 0007).
        Index("ix_incidence_estimates_catalogue", "definition_key", "definition_version", "method", "week"),
        CheckConstraint("geo_type IN ('nation', 'region')", name="geo_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date]
    geo_type: Mapped[str] = mapped_column(String(8))
    geo_code: Mapped[str] = mapped_column(String(8))  # 'DK' or a region code such as '1084'
    age_band: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(8))
    definition_key: Mapped[str] = mapped_column(String(40))
    definition_version: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(32))
    active: Mapped[int | None]
    cases: Mapped[int | None]
    incidence: Mapped[float | None] = mapped_column(Float)  # proportion, 0..1
    lower_95: Mapped[float | None] = mapped_column(Float)  # exact Poisson (chi-square form)
    upper_95: Mapped[float | None] = mapped_column(Float)
    wilson_lower_95: Mapped[float | None] = mapped_column(Float)  # Wilson score, for the share of reports
    wilson_upper_95: Mapped[float | None] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)  # sqrt(p(1-p)/n), Delphi's stderr column
    # Direct age standardisation to the standard population (rows with age_band 'all' only), Fay-Feuer interval.
    standardised_incidence: Mapped[float | None] = mapped_column(Float)
    standardised_lower_95: Mapped[float | None] = mapped_column(Float)
    standardised_upper_95: Mapped[float | None] = mapped_column(Float)
    # Influenzanet display censoring: too few active participants for the season, or an upper bound too high.
    display_censored: Mapped[bool] = mapped_column(default=False)
    upper_censored: Mapped[bool] = mapped_column(default=False)
    # Passes the stricter public (open data) disclosure rules, decided when written.
    public: Mapped[bool] = mapped_column(default=False)
    missing_reason: Mapped[int] = mapped_column(SmallInteger, default=MISSING_NONE)
    issue: Mapped[dt.date]
    # The week's one final issue (scheduler.incidence.estimates.FINAL_AFTER_DAYS after its Monday): the only figures the
    # export and the open data serve, never revised afterwards.
    final: Mapped[bool] = mapped_column(default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SeasonMaximum(Base):
    """The largest active count and incidence published so far in a season, per cell, definition and method
    (any issue): what Influenzanet's display censoring compares each week with (scheduler.incidence.censoring). Kept
    by the aggregation in the transaction that writes the estimates, so a run reads one row per cell instead
    of every estimate of the season. Zero stands for "nothing published yet"."""

    __tablename__ = "season_maxima"

    season: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    definition_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    definition_version: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    geo_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    geo_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    age_band: Mapped[str] = mapped_column(String(16), primary_key=True)
    sex: Mapped[str] = mapped_column(String(8), primary_key=True)
    max_active: Mapped[int] = mapped_column(default=0)
    max_incidence: Mapped[float] = mapped_column(Float, default=0.0)


class ParticipationEstimate(Base):
    """Participation per week and geography, written by the scheduler beside the incidence estimates:
    registered profiles, active participants, new profiles, and the response rate (active / registered).
    Small counts are suppressed as for incidence; revisions add issues the same way."""

    __tablename__ = "participation_estimates"
    __table_args__ = (
        UniqueConstraint("week", "geo_type", "geo_code", "issue"),
        CheckConstraint("geo_type IN ('nation', 'region')", name="geo_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date]
    geo_type: Mapped[str] = mapped_column(String(8))
    geo_code: Mapped[str] = mapped_column(String(8))
    registered: Mapped[int | None]  # profiles that existed by the end of the week
    active: Mapped[int | None]  # profiles with a report in the week
    new_profiles: Mapped[int | None]  # profiles created during the week
    response_rate: Mapped[float | None] = mapped_column(Float)  # active / registered
    missing_reason: Mapped[int] = mapped_column(SmallInteger, default=MISSING_NONE)
    issue: Mapped[dt.date]
    final: Mapped[bool] = mapped_column(default=False)  # as for incidence
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
