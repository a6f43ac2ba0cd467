"""week flags for a one-pass count of w0; season maxima; an index for counting registrations

- On PostgreSQL the case flags are built again, and with them ``weekly_reports.late_flags`` (kept by
  triggers: the flags of the participant's report of the next week whose onset is in this one),
  ``week_flags`` (generated: the report's own onset-week cases and its late flags) and the index
  ``(week, region_code, age_years, sex, week_flags)``, from which the aggregation counts a week or a whole
  season of w0 with one index-only scan (docs/methods.md, "Week flags"). The table is rewritten once (about
  4.5 minutes for 28 million reports); VACUUM afterwards (autovacuum does) lets the scan be index-only.
- ``season_maxima``: the largest published active count and incidence per season, cell, definition and
  method, which display censoring compares with; filled here from the estimates already published.
- Both engines: an index on profiles (municipality, creation time) for the participation estimates.
SQLite keeps no flags.

What this revision builds is frozen in ``migrations/frozen/caseflags_0008.py`` (the SQL of the columns,
function, triggers and indexes as scheduler/caseflags.py made them at this revision; the definitions read with
Core from ``case_definitions`` as it is here and compiled by the frozen compiler of 0006). A later change of a
case definition comes as a new migration with its own frozen SQL: it writes its ``case_definitions`` rows and
rebuilds the flags with a frozen module of its own (or with ``caseflags_0008.rebuild`` while the tables it
reads are still as they are here), never with the application's ``scheduler.caseflags.rebuild``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from migrations.frozen import caseflags_0008

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CELL = ("method", "definition_key", "definition_version", "geo_type", "geo_code", "age_band", "sex")


def upgrade() -> None:
    op.create_table(
        "season_maxima",
        sa.Column("season", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("definition_key", sa.String(length=40), nullable=False),
        sa.Column("definition_version", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("geo_type", sa.String(length=8), nullable=False),
        sa.Column("geo_code", sa.String(length=8), nullable=False),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("max_active", sa.Integer(), nullable=False),
        sa.Column("max_incidence", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("season", *_CELL, name=op.f("pk_season_maxima")),
    )
    _fill_season_maxima()
    op.create_index("ix_profiles_municipality_created", "profiles", ["municipality_code", "created_at"])
    caseflags_0008.rebuild(op.get_bind())


def _fill_season_maxima() -> None:
    """The maxima of what is published already (a season runs 1 September to 31 August; a week is its
    Monday). Estimates are few (thousands per season), so they are read once and summed up here."""
    connection = op.get_bind()
    estimates = sa.table("incidence_estimates", sa.column("week", sa.Date()), sa.column("active", sa.Integer()),
                         sa.column("incidence", sa.Float()), *[sa.column(name) for name in _CELL])
    maxima: dict[tuple, list] = {}
    for row in connection.execute(sa.select(estimates)).mappings():
        week = row["week"]
        season = week.year if week.month >= 9 else week.year - 1
        key = (season, *(row[name] for name in _CELL))
        entry = maxima.setdefault(key, [0, 0.0])
        entry[0] = max(entry[0], row["active"] or 0)
        entry[1] = max(entry[1], row["incidence"] or 0.0)
    if maxima:
        op.bulk_insert(sa.table("season_maxima", *[sa.column(n) for n in ("season", *_CELL, "max_active",
                                                                          "max_incidence")]),
                       [dict(zip(("season", *_CELL), key), max_active=a, max_incidence=i)
                        for key, (a, i) in maxima.items()])


def downgrade() -> None:
    caseflags_0008.drop_week_flags(op.get_bind())
    op.drop_index("ix_profiles_municipality_created", table_name="profiles")
    op.drop_table("season_maxima")
