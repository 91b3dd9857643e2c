"""Domains a service answers on (issue 27): its domain, aliases and redirects, one namespace.

- service_domains(domain pk, service_id -> services ON DELETE CASCADE, role): each domain a
  service claims, with the spec field it comes from (domain, alias or redirect). The primary
  key is what makes a domain one service's across all three fields, race-free: of two applies
  that claim one name at once, the second's insert waits for the first's commit and fails.
  The claims go with the service's row (the agent's forget), as services.domain does.
- Every stored domain is claimed by its service at once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "service_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "role IN ('domain', 'alias', 'redirect')", name=op.f("ck_service_domains_role")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_domains_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_service_domains")),
    )
    op.create_index(
        op.f("ix_service_domains_service_id"), "service_domains", ["service_id"], unique=False
    )
    op.execute(
        "INSERT INTO service_domains (domain, service_id, role)"
        " SELECT domain, id, 'domain' FROM services WHERE domain IS NOT NULL"
    )


def downgrade():
    # Below 0008 nothing keeps an alias or a redirect one service's: refuse while any exists.
    bind = op.get_bind()
    extra = bind.execute(
        sa.text("SELECT count(*) FROM service_domains WHERE role <> 'domain'")
    ).scalar()
    if extra:
        raise RuntimeError(
            f"cannot downgrade below 0008: {extra} alias(es) or redirect(s) are stored; "
            "remove them from the services' specs first"
        )
    op.drop_index(op.f("ix_service_domains_service_id"), table_name="service_domains")
    op.drop_table("service_domains")
