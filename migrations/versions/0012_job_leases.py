"""job leases: a running claim carries a heartbeat and an owner; interrupted, missed and dismissed runs

``job_runs`` gains

- ``heartbeat_at``: refreshed every few seconds by the process running the claim; a running claim whose heartbeat
  is older than the lease (``COVIDMETER_JOB_LEASE_SECONDS``) belongs to a dead or frozen process and is re-run;
- ``owner``: which process holds the claim (host, pid, a random run id), so that a heartbeat, a commit or the end
  of a run can tell whether the claim is still its own (compare-and-set on it);
- ``attempts``: how many times the period was started (automatic retries stop at ``COVIDMETER_JOB_MAX_ATTEMPTS``);
- ``scheduled_for``: the scheduled time the run is for, so that a re-run later does the same work;

and the statuses ``interrupted`` (handed back at shutdown, re-run at the next start), ``missed`` (not run within
the job's grace: reported, run by hand) and ``dismissed`` (an operator said a missed run will not be run).

Revision ID: 0012_jobs
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_jobs"
down_revision = "0011"
branch_labels = None
depends_on = None

NEW_STATUSES = "status IN ('running', 'succeeded', 'failed', 'interrupted', 'missed', 'dismissed')"
OLD_STATUSES = "status IN ('running', 'succeeded', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch_op:
        batch_op.add_column(sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.SmallInteger(), nullable=False, server_default="1"))
        batch_op.drop_constraint(op.f("ck_job_runs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_job_runs_status"), sa.text(NEW_STATUSES))
        batch_op.create_index(op.f("ix_job_runs_status"), ["status"], unique=False)


def downgrade() -> None:
    # Statuses the old schema does not know become the nearest it does: a handed-back run failed, a missed or
    # dismissed run is forgotten (the old scheduler did not record them).
    op.execute("UPDATE job_runs SET status = 'failed' WHERE status = 'interrupted'")
    op.execute("DELETE FROM job_runs WHERE status IN ('missed', 'dismissed')")
    with op.batch_alter_table("job_runs") as batch_op:
        batch_op.drop_index(op.f("ix_job_runs_status"))
        batch_op.drop_constraint(op.f("ck_job_runs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_job_runs_status"), sa.text(OLD_STATUSES))
        batch_op.drop_column("attempts")
        batch_op.drop_column("owner")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("scheduled_for")
