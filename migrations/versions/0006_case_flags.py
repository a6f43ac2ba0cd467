"""case flags: every report's case definitions evaluated once by PostgreSQL, as a generated column

``case_flag_bits`` records which bit of ``weekly_reports.case_flags`` holds which definition (and the digest of
the rule it was built from); on PostgreSQL the column is generated from the active definitions' SQL, with the
covering index of late onsets over it. What this revision builds is frozen in ``migrations/frozen/``
(``caseflags_0006``, with the rule compiler of this revision, ``definitions_0006``, reading
``case_definitions`` as it is here): the application's scheduler/caseflags.py may change, this does not. A
later change of a case definition (one added, changed or retired) comes as a new migration with its own frozen
SQL, which rebuilds the flags as 0008 does (``migrations/frozen/__init__.py``). SQLite keeps no flags; the
aggregation evaluates the rules inline there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from migrations.frozen import caseflags_0006

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
    caseflags_0006.create(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE weekly_reports DROP COLUMN IF EXISTS case_flags")
    op.drop_table("case_flag_bits")
