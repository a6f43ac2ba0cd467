"""case flags: every report's case definitions evaluated once by PostgreSQL, as a generated column

``case_flag_bits`` records which bit of ``weekly_reports.case_flags`` holds which definition (and the digest of
the rule it was built from); on PostgreSQL the column is generated from the active definitions' SQL
(scheduler/caseflags.py). A later migration that adds or changes a definition calls
``scheduler.caseflags.rebuild`` again. SQLite keeps no flags; the aggregation evaluates the rules inline there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_flag_bits",
        sa.Column("bit", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("definition_key", sa.String(length=40), nullable=False),
        sa.Column("definition_version", sa.SmallInteger(), nullable=False),
        sa.Column("rule_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("bit BETWEEN 0 AND 62", name=op.f("ck_case_flag_bits_bit")),
        sa.PrimaryKeyConstraint("bit", name=op.f("pk_case_flag_bits")),
        sa.UniqueConstraint("definition_key", "definition_version",
                            name=op.f("uq_case_flag_bits_definition_key_definition_version")),
    )
    from scheduler.caseflags import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE weekly_reports DROP COLUMN IF EXISTS case_flags")
    op.drop_table("case_flag_bits")
