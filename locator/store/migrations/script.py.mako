"""${message}

Schema version ${up_revision.lstrip("0")}. Revision ID: ${up_revision}; revises: ${down_revision | comma,n}.
Created ${create_date}. Name the next revision after its version: `alembic revision
--rev-id 0006 -m "..."` run against locator/store/migrations; bump SCHEMA_VERSION in
locator/store/schema.py and the table in locator/store/sql.py with it.
"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
