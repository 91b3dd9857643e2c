"""Backups (issue 27): copies of a service's volume kept on the host, and restores of them.

- backups: one copy of the volume `volume` (its owner's: only they see it), asked for by its
  owner (cause user, with an optional dump `command` run first as a job: dump_run_id) or
  scheduled from spec.backup (cause schedule, scheduled_for: unique per volume, so a minute
  is taken once). The agent takes it (state pending -> dumping | holding -> copying -> kept
  or failed) and records the file's size and sha256. Rows go with the volume's row (a purge);
  a delete without purge keeps the volume, so its backups stay.
- restores: a restore of a kept backup, or of an upload the apiserver spooled
  (`upload`: the spool file's name, never a user's path); pending -> restoring -> done or
  failed. A pending or restoring restore holds the service stopped.

Revision ID: 0012
Revises: 0011 (0011 is other work in parallel: re-chained onto it at merge if needed)
Create Date: 2027-01-05 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BACKUP_STATES = "('pending', 'dumping', 'holding', 'copying', 'kept', 'failed')"
RESTORE_STATES = "('pending', 'restoring', 'done', 'failed')"


def _when(name: str, default: bool = False) -> sa.Column:
    server_default = sa.func.now() if default else None
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=server_default, nullable=not default
    )


def _volume_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["volume"], ["volumes.name"], name=op.f(f"fk_{table}_volume_volumes"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "backups",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.String(length=70), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("command", sa.dialects.postgresql.JSONB(), nullable=True),
        sa.Column("dump_run_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("container", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        _when("scheduled_for"),
        _when("requested_at", default=True),
        _when("started_at"),
        _when("finished_at"),
        sa.CheckConstraint(f"state IN {BACKUP_STATES}", name=op.f("ck_backups_state")),
        sa.CheckConstraint("cause IN ('user', 'schedule')", name=op.f("ck_backups_cause")),
        _volume_fk("backups"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_backups_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dump_run_id"],
            ["job_runs.id"],
            name=op.f("fk_backups_dump_run_id_job_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        sa.UniqueConstraint("volume", "scheduled_for", name=op.f("uq_backups_minute")),
    )
    op.create_index("ix_backups_volume_id", "backups", ["volume", "id"])
    op.create_index("ix_backups_owner_id", "backups", ["owner_id"])
    op.create_table(
        "restores",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.String(length=70), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("backup_id", sa.BigInteger(), nullable=True),
        sa.Column("upload", sa.String(length=64), nullable=True),
        sa.Column("upload_bytes", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("container", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        _when("requested_at", default=True),
        _when("started_at"),
        _when("finished_at"),
        sa.CheckConstraint(f"state IN {RESTORE_STATES}", name=op.f("ck_restores_state")),
        _volume_fk("restores"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_restores_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["backups.id"],
            name=op.f("fk_restores_backup_id_backups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restores")),
    )
    op.create_index("ix_restores_volume_id", "restores", ["volume", "id"])


def downgrade():
    op.drop_table("restores")
    op.drop_table("backups")
