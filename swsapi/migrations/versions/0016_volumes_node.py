"""volumes.node (issue 28): the swarm node that holds a service's volume, as services.volume_node
says while the service exists. It outlives the service: a volume kept by a delete without
purge stays on its node, so the owner's service of that name again is pinned there (never a
fresh volume elsewhere), and an administrator's purge of it is carried out there. NULL: one
host, or no task of the service seen running.

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-27 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("volumes", sa.Column("node", sa.String(255), nullable=True))
    op.execute(
        """UPDATE volumes v SET node = s.volume_node FROM services s
           WHERE v.name = s.name || '-volume' AND s.volume_node IS NOT NULL"""
    )


def downgrade():
    op.drop_column("volumes", "node")
