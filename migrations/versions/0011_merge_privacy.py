"""merge: ids never reused (0010_ids) and final issues (0010_final), built side by side for issue 11

Revision ID: 0011
Revises: 0010_ids, 0010_final
Create Date: 2026-12-04
"""

revision = "0011"
down_revision = ("0010_ids", "0010_final")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
