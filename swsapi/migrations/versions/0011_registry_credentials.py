"""Private registries (issue 26): each user's credentials for a registry host, the password
sealed to the host's key (swscore/sealing.py); the agent opens them to pull that user's images.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-28 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registry_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=260), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "host", name="uq_registry_credentials_user_host"),
    )
    op.create_index(
        "ix_registry_credentials_user_id", "registry_credentials", ["user_id"], unique=False
    )


def downgrade():
    op.drop_index("ix_registry_credentials_user_id", table_name="registry_credentials")
    op.drop_table("registry_credentials")
