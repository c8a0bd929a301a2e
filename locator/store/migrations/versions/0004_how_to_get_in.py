"""Schema version 4: how to get in (entry method, the app for a QR code, staffed hours, a
note for the door) and who may use the toilet; unknown ("") for existing stations.

Revision ID: 0004; revises 0003.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (sa.Column("entry_method", sa.String(20), nullable=False, server_default=""),
                   sa.Column("entry_app", sa.String(40), nullable=False, server_default=""),
                   sa.Column("staffed_hours", sa.String(200), nullable=True),
                   sa.Column("entry_note", sa.String(200), nullable=False, server_default=""),
                   sa.Column("toilet_access", sa.String(20), nullable=False,
                             server_default="")):
        op.add_column("stations", column)


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
