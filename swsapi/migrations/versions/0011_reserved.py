"""A placeholder for revision 0011, which other work adds in parallel: it changes nothing, so
0012 (backups) has its parent on this branch. At merge, drop this file for the real 0011.

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-05 09:00:00.000000
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
