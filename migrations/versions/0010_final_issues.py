"""final issues: the one issue of a week that the export and the open data publish

``incidence_estimates.final`` and ``participation_estimates.final`` mark a week's issue written once the week
has settled (scheduler.estimates.FINAL_AFTER_DAYS after its Monday). Re-runs never revise a final row, so
nothing published can be differenced against a later issue (a withdrawal between two issues would otherwise
show as the difference: issue 11). Rows written before this revision stay unmarked: they were protected
table by table, and the export serves none of them until the aggregation publishes the weeks again.

Revision ID: 0010_final
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_final"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("incidence_estimates", "participation_estimates"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for table in ("incidence_estimates", "participation_estimates"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("final")
