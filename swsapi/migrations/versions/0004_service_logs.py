"""Service logs and live status: the bounded log buffer the shipper fills, the streams the API
holds open, and services.restart_count / services.status_since.

status_since is kept by a trigger, so every writer (the apiserver's apply and delete, the
agent's record of a pass) moves it exactly when the status changes, without knowing of it.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 05:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATUS_SINCE_FUNCTION = """
CREATE FUNCTION sws_services_status_since() RETURNS trigger AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_since := now();
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
STATUS_SINCE_TRIGGER = """
CREATE TRIGGER services_status_since BEFORE UPDATE OF status ON services
FOR EACH ROW EXECUTE FUNCTION sws_services_status_since()
"""


def upgrade():
    op.add_column(
        "services",
        sa.Column("restart_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "services",
        sa.Column(
            "status_since",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.execute("UPDATE services SET status_since = updated_at")
    op.execute(STATUS_SINCE_FUNCTION)
    op.execute(STATUS_SINCE_TRIGGER)
    op.create_table(
        "service_logs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=255), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream", sa.String(length=6), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_logs_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_logs")),
    )
    op.create_index(
        "ix_service_logs_service_id_id", "service_logs", ["service_id", "id"], unique=False
    )
    op.create_table(
        "log_streams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_log_streams_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_streams")),
    )
    op.create_index(op.f("ix_log_streams_user_id"), "log_streams", ["user_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_log_streams_user_id"), table_name="log_streams")
    op.drop_table("log_streams")
    op.drop_index("ix_service_logs_service_id_id", table_name="service_logs")
    op.drop_table("service_logs")
    op.execute("DROP TRIGGER services_status_since ON services")
    op.execute("DROP FUNCTION sws_services_status_since()")
    op.drop_column("services", "status_since")
    op.drop_column("services", "restart_count")
