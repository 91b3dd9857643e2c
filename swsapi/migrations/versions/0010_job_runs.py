"""Jobs (issue 26): one-off and scheduled runs of a command beside a service, and their output.

- job_runs: each run asked for (`swsctl run`, state pending) or scheduled by the agent (`job`
  names the spec's job, `scheduled_for` its minute; unique per job, so a minute runs once
  whichever pass sees it first). The agent starts the container, records start, end, exit
  code and state; `stop_requested` is the caller's Ctrl-C. Rows go with the service's row.
- job_run_lines: the run's output as the log shipper reads it (`output_done` once it read the
  container to its end); the API's cursor is the id, as in service_logs.

Revision ID: 0010
Revises: 0008 (0009 is taken by other work: re-chained onto it at merge)
Create Date: 2026-12-20 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATES = "('pending', 'running', 'succeeded', 'failed', 'timed_out', 'stopped', 'skipped')"


def upgrade():
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=63), nullable=True),
        sa.Column("command", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("container", sa.String(length=255), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("output_done", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_job_runs_state")),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_job_runs_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("service_id", "job", "scheduled_for", name=op.f("uq_job_runs_minute")),
    )
    op.create_index("ix_job_runs_service_id_id", "job_runs", ["service_id", "id"])
    op.create_index(
        "ix_job_runs_unfinished",
        "job_runs",
        ["state"],
        postgresql_where=sa.text("state IN ('pending', 'running')"),
    )
    op.create_table(
        "job_run_lines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream", sa.String(length=6), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_run_lines_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run_lines")),
    )
    op.create_index("ix_job_run_lines_run_id_id", "job_run_lines", ["run_id", "id"])


def downgrade():
    op.drop_table("job_run_lines")
    op.drop_table("job_runs")
