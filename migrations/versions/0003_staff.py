"""staff security: TOTP confirmation and replay guard, session metadata, token owner

Revision ID: 0003_staff
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_staff'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_agent', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('remote_addr', sa.String(length=64), nullable=True))

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_staff_user_id'), ['staff_user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_staff_user_id_staff_users'), 'staff_users',
                                    ['staff_user_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_staff_user_id_staff_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_staff_user_id'))
        batch_op.drop_column('staff_user_id')

    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_column('remote_addr')
        batch_op.drop_column('user_agent')

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_confirmed_at')
