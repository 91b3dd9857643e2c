"""services.replicas_running (issue 28): how many containers of the serving generation run, as
the agent and the log shipper last saw them; with spec.replicas it is what `swsctl ls` shows as
running/desired. A service recorded running when this is applied had its one container
running: it starts at 1 (the shipper corrects it within seconds if not).

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-12 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "services",
        sa.Column("replicas_running", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute("UPDATE services SET replicas_running = 1 WHERE status = 'running'")


def downgrade():
    op.drop_column("services", "replicas_running")
