"""service_generations: the spec of each of a service's last generations (history, rollback).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:30:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "service_generations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("spec_digest", sa.String(length=64), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("rolled_back_to", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_generations_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_generations")),
        sa.UniqueConstraint(
            "service_id", "generation", name=op.f("uq_service_generations_service_id")
        ),
    )
    # Services stored before this migration start their history with their current spec.
    op.execute(
        """INSERT INTO service_generations
               (service_id, generation, spec, spec_digest, cause, created_at)
           SELECT id, generation, spec, spec_digest, 'apply', updated_at FROM services"""
    )


def downgrade():
    op.drop_table("service_generations")
