"""Schema version 2: soft delete (``stations.deleted_at``) and the station version each
history row produced (``station_history.version``), for the change log.

Revision ID: 0002; revises 0001. Existing stations stay live; existing history rows
have no version (NULL), as the store has always read them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("deleted_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("station_history", sa.Column("version", sa.Integer, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
