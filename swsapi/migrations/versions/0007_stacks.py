"""Stacks (issue 24): private services, a service's stack, and stop/start.

- services.domain becomes nullable: a service without a domain is private (no route, no
  certificate). It stays unique; PostgreSQL lets any number of NULLs through.
- services.stack: the spec's stack (a DNS label of at most 32 characters), kept equal to
  spec.stack by every apply, so a stack's services are found by index, not by JSON.
- services.stopped: the desired state a user's stop or start sets; the agent reports status
  'stopped' once the containers are gone, which the status constraint now admits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATUSES = "('pending', 'running', 'failed', 'deleting', 'stopped')"
STATUSES_BEFORE = "('pending', 'running', 'failed', 'deleting')"


def upgrade():
    op.alter_column("services", "domain", existing_type=sa.String(length=253), nullable=True)
    op.add_column("services", sa.Column("stack", sa.String(length=32), nullable=True))
    op.add_column(
        "services",
        sa.Column("stopped", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index("ix_services_owner_id_stack", "services", ["owner_id", "stack"], unique=False)
    # A spec stored by an apiserver that knew spec.stack before this column existed.
    op.execute("UPDATE services SET stack = spec->>'stack' WHERE spec ? 'stack'")
    op.drop_constraint(op.f("ck_services_status"), "services", type_="check")
    op.create_check_constraint(op.f("ck_services_status"), "services", f"status IN {STATUSES}")


def downgrade():
    # Without the column a stopped service would run again and a private one has no row to
    # go back to: refuse rather than start or drop a user's service behind their back.
    bind = op.get_bind()
    private = bind.execute(sa.text("SELECT count(*) FROM services WHERE domain IS NULL")).scalar()
    stopped = bind.execute(sa.text("SELECT count(*) FROM services WHERE stopped")).scalar()
    if private or stopped:
        raise RuntimeError(
            f"cannot downgrade below 0007: {private} service(s) without a domain and "
            f"{stopped} stopped service(s) are stored; delete or start them first"
        )
    op.drop_constraint(op.f("ck_services_status"), "services", type_="check")
    op.create_check_constraint(
        op.f("ck_services_status"), "services", f"status IN {STATUSES_BEFORE}"
    )
    op.drop_index("ix_services_owner_id_stack", table_name="services")
    op.drop_column("services", "stopped")
    op.drop_column("services", "stack")
    op.alter_column("services", "domain", existing_type=sa.String(length=253), nullable=False)
