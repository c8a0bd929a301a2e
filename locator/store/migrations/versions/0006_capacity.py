"""Schema version 6: a station's capacity, the number of seats (座位数) it offers its
users, which capacity-aware access analysis (2SFCA) weighs stations by; NULL ("not
recorded") for existing stations.

Revision ID: 0006; revises 0005.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("capacity", sa.Integer, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
