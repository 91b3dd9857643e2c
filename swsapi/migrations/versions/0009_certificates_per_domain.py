"""Certificates per domain (issue 27): a service's domain, each alias and each redirect has a
certificate of its own (an ACME order each, or the user's upload for that name).

- certificates: the primary key becomes (service_id, domain) instead of service_id. Every
  stored row keeps its data: it is the certificate of the domain it was made for.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-16 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint("pk_certificates", "certificates", type_="primary")
    op.create_primary_key("pk_certificates", "certificates", ["service_id", "domain"])


def downgrade():
    # Below 0009 a service holds one certificate: refuse rather than choose which to drop.
    bind = op.get_bind()
    crowded = bind.execute(
        sa.text(
            "SELECT count(*) FROM (SELECT service_id FROM certificates"
            " GROUP BY service_id HAVING count(*) > 1) AS more"
        )
    ).scalar()
    if crowded:
        raise RuntimeError(
            f"cannot downgrade below 0009: {crowded} service(s) hold more than one "
            "certificate; delete the aliases' and redirects' certificates first"
        )
    op.drop_constraint("pk_certificates", "certificates", type_="primary")
    op.create_primary_key("pk_certificates", "certificates", ["service_id"])
