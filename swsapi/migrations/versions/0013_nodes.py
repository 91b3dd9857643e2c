"""Swarm nodes (issue 28): each node the agent found in the manager's node list.

nodes: keyed by the swarm's node ID; `registered_at` is when the agent first saw it (joining
the swarm registers a node with the manager), `last_seen_at` when it last saw it ready;
`state` is Docker's (ready, down, disconnected, unknown) or `left` once the manager no longer
lists it. `mem_free_bytes`, `disk_free_bytes` and `reported_at` come from the node's own
report (the global service sws-node-report); `services` names the SWS services whose tasks
run there (or ran, for a node that went down).

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-12 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NODE_STATES = "('ready', 'down', 'disconnected', 'unknown', 'left')"


def _when(name: str, default: bool = False) -> sa.Column:
    server_default = sa.func.now() if default else None
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=server_default, nullable=not default
    )


def upgrade():
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("labels", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("cpus", sa.Float(), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mem_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("services", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        _when("reported_at"),
        _when("registered_at", default=True),
        _when("last_seen_at"),
        _when("updated_at", default=True),
        sa.CheckConstraint(f"state IN {NODE_STATES}", name=op.f("ck_nodes_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )


def downgrade():
    op.drop_table("nodes")
