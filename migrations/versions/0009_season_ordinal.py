"""season ordinals: each report's place among its participant's reports of the season (PostgreSQL)

``weekly_reports.season_ordinal`` (1 for a participant's first report of the season, 2 for the second, ...)
kept by triggers, so the participation methods that look at a participant's other reports of the season
(ignore the first report, at least k weeks reported, at least m reports in the season) test a column instead
of looking the reports up for every report counted: the newest week of all four methods at national scale
went from 25 s to a few seconds (docs/performance.md). Every existing report is numbered once (one sort and
one rewrite of the table). SQLite keeps no ordinal.

The column, functions and triggers are frozen as this revision made them in
``migrations/frozen/season_ordinal_0009.py`` (a copy of reporting/reports/season_ordinal.py of the day): the
application's module may change, this does not. A later change of them comes as a new migration that carries
its own SQL (the functions' new text, say), never as a call of the application's module.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

from migrations.frozen import season_ordinal_0009

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    season_ordinal_0009.create(op.get_bind())


def downgrade() -> None:
    season_ordinal_0009.drop(op.get_bind())
