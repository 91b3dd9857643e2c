"""services.volume_node (issue 28): the hostname of the swarm node that holds the service's
volume, recorded by the agent the first time the service's task is seen running there. The
volume's data is on that node alone: its next generations are pinned to it, and the node
down or gone fails the service, never deploys it elsewhere. NULL: one host, no volume, or no
task seen running yet.

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-20 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("services", sa.Column("volume_node", sa.String(255), nullable=True))


def downgrade():
    op.drop_column("services", "volume_node")
