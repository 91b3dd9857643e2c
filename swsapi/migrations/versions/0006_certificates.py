"""Certificates (issue 15): a service's HTTPS certificate, uploaded or issued by ACME.

- certificates(service_id, source, domain, chain_pem, key_sealed, fingerprint, not_after,
  state, message, attempts, next_attempt_at, created_at, updated_at): one row a service, gone
  with it. The chain is public; the private key is only ever stored sealed to the host's key
  (swscore/sealing.py): the apiserver can seal, only root on the host can open.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    now = sa.text("now()")
    op.create_table(
        "certificates",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=True),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_certificates_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_certificates")),
    )


def downgrade():
    op.drop_table("certificates")
