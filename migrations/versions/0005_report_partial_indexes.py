"""partial indexes for the reports that may carry cases the aggregation's one-pass count cannot see

The aggregation of a method without an activity window counts each week in one pass over its reports and
then looks again only at the few reports that may add a case the pass missed (scheduler/aggregation.py,
``_finest_without_window``): reports whose onset lies in an earlier week than the report (a cough that began
on Sunday, reported on Monday), and reports that answered "same illness" about an illness that began in their
own week. Two small partial indexes find them without scanning the week's reports a second time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    late = sa.text("onset_week < week")
    op.create_index("ix_weekly_reports_late_onset", "weekly_reports", ["onset_week"],
                    postgresql_where=late, sqlite_where=late)
    continuing = sa.text("same_illness = 'yes' AND onset_week = week")
    op.create_index("ix_weekly_reports_same_illness", "weekly_reports", ["week"],
                    postgresql_where=continuing, sqlite_where=continuing)


def downgrade() -> None:
    op.drop_index("ix_weekly_reports_same_illness", table_name="weekly_reports")
    op.drop_index("ix_weekly_reports_late_onset", table_name="weekly_reports")
