"""estimate details and participation

Wilson and age-standardised figures, Delphi stderr, display-censoring and open-data flags on each
estimate; the participation estimates; the inputs of the Menni et al. (2020) prediction model on reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('participation_estimates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('geo_type', sa.String(length=8), nullable=False),
    sa.Column('geo_code', sa.String(length=8), nullable=False),
    sa.Column('registered', sa.Integer(), nullable=True),
    sa.Column('active', sa.Integer(), nullable=True),
    sa.Column('new_profiles', sa.Integer(), nullable=True),
    sa.Column('response_rate', sa.Float(), nullable=True),
    sa.Column('missing_reason', sa.SmallInteger(), nullable=False),
    sa.Column('issue', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("geo_type IN ('nation', 'region')", name=op.f('ck_participation_estimates_geo_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participation_estimates')),
    sa.UniqueConstraint('week', 'geo_type', 'geo_code', 'issue', name=op.f('uq_participation_estimates_week_geo_type_geo_code_issue'))
    )
    with op.batch_alter_table('incidence_estimates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wilson_lower_95', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('wilson_upper_95', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('stderr', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('standardised_incidence', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('standardised_lower_95', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('standardised_upper_95', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('display_censored', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('upper_censored', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('public', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('persistent_cough', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('severe_fatigue', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('skipped_meals', sa.Boolean(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.drop_column('skipped_meals')
        batch_op.drop_column('severe_fatigue')
        batch_op.drop_column('persistent_cough')

    with op.batch_alter_table('incidence_estimates', schema=None) as batch_op:
        batch_op.drop_column('public')
        batch_op.drop_column('upper_censored')
        batch_op.drop_column('display_censored')
        batch_op.drop_column('standardised_upper_95')
        batch_op.drop_column('standardised_lower_95')
        batch_op.drop_column('standardised_incidence')
        batch_op.drop_column('stderr')
        batch_op.drop_column('wilson_upper_95')
        batch_op.drop_column('wilson_lower_95')

    op.drop_table('participation_estimates')
