"""merge the citizen, epidemiology and staff branches

The three features were built at the same time, each adding one revision on top of 0002. This revision
joins them so the history has one head again; it changes nothing by itself.

Revision ID: 0004
Revises: 0003_citizen, 0003_epidemiology, 0003_staff
Create Date: 2026-11-26
"""

revision = "0004"
down_revision = ("0003_citizen", "0003_epidemiology", "0003_staff")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
