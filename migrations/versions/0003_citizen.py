"""citizen self-service

Weekly reminder deliveries (one per account per ISO week), pending e-mail changes, the record of
withdrawals (no health data, no e-mail address), and the weekly-2 questionnaire's typed columns on
reports: still ill, influenza test and result, care sought, days off, vaccination this season.

Revision ID: 0003_citizen
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_citizen'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('withdrawals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consent_version', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('profiles_deleted', sa.SmallInteger(), nullable=False),
    sa.Column('reports_deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals'))
    )
    op.create_table('email_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('new_email', sa.String(length=320), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_email_changes_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_changes')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_email_changes_token_hash'))
    )
    with op.batch_alter_table('email_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_changes_account_id'), ['account_id'], unique=False)

    op.create_table('reminder_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('profiles', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_reminder_deliveries_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_deliveries')),
    sa.UniqueConstraint('account_id', 'week', name=op.f('uq_reminder_deliveries_account_id_week'))
    )
    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('still_ill', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('flu_tested', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('flu_test_result', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('care_none', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('care_gp', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('care_helpline', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('care_emergency', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('care_hospital', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('care_other', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('days_off', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('vaccinated_season', sa.String(length=12), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.drop_column('vaccinated_season')
        batch_op.drop_column('days_off')
        batch_op.drop_column('care_other')
        batch_op.drop_column('care_hospital')
        batch_op.drop_column('care_emergency')
        batch_op.drop_column('care_helpline')
        batch_op.drop_column('care_gp')
        batch_op.drop_column('care_none')
        batch_op.drop_column('flu_test_result')
        batch_op.drop_column('flu_tested')
        batch_op.drop_column('still_ill')

    op.drop_table('reminder_deliveries')
    with op.batch_alter_table('email_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_changes_account_id'))

    op.drop_table('email_changes')
    op.drop_table('withdrawals')
