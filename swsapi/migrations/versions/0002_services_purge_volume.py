"""services.purge_volume: a delete with purge removes the service's volume too.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "services",
        sa.Column("purge_volume", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade():
    op.drop_column("services", "purge_volume")
