"""Tenant isolation: volume ownership, per-user service quotas, the domain still served.

- volumes(name, owner_id, adopted, purge_requested, created_at): who a kept `<name>-volume`
  belongs to. Docker volume labels cannot change, so ownership lives here. Every existing
  service's volume (a spec with volumeMount) is given to the service's owner, marked
  `adopted`: it was made before volumes carried an owner label, and the agent mounts such a
  volume only when the store vouches for it. Volumes of services deleted before this
  migration are not in the store: their owner is unknown, the agent refuses to mount them,
  and only an administrator can purge them.
- users.service_quota: a per-user override of SWS_SERVICE_QUOTA (NULL: the default).
- services.served_domain: the domain of the generation that serves (set by the agent when a
  generation goes live), reserved to the service until a new domain serves. Existing
  services whose current generation serves get their domain.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-27 05:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "volumes",
        sa.Column("name", sa.String(length=70), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("adopted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("purge_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_volumes_owner_id_users")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_volumes")),
    )
    op.create_index(op.f("ix_volumes_owner_id"), "volumes", ["owner_id"], unique=False)
    op.add_column("users", sa.Column("service_quota", sa.Integer(), nullable=True))
    op.add_column("services", sa.Column("served_domain", sa.String(length=253), nullable=True))
    op.create_index(op.f("ix_services_served_domain"), "services", ["served_domain"], unique=False)
    op.execute(
        """INSERT INTO volumes (name, owner_id, adopted)
           SELECT name || '-volume', owner_id, true FROM services
           WHERE spec ? 'volumeMount' AND spec->>'volumeMount' IS NOT NULL"""
    )
    op.execute(
        """UPDATE services SET served_domain = domain
           WHERE applied_generation = generation AND status = 'running'"""
    )


def downgrade():
    op.drop_index(op.f("ix_services_served_domain"), table_name="services")
    op.drop_column("services", "served_domain")
    op.drop_column("users", "service_quota")
    op.drop_index(op.f("ix_volumes_owner_id"), table_name="volumes")
    op.drop_table("volumes")
