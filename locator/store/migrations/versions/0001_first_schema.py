"""Schema version 1, the first: stations, their history and the version row.

Revision ID: 0001 (no parent). A database made by the first release has exactly these
tables; :mod:`locator.store.schema` recognises it by its ``locator_meta`` row and
stamps it at this revision before upgrading.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("district_adcode", sa.String(6), nullable=False),
        sa.Column("district_name", sa.String(50), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("amenities", sa.String(400), nullable=False),
        sa.Column("opening_hours", sa.String(200)),
        sa.Column("access", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verified_date", sa.Date),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_stations_type", "stations", ["type"])
    op.create_index("ix_stations_district_adcode", "stations", ["district_adcode"])
    op.create_table(
        "station_history",
        sa.Column("hid", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("op", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch", sa.String(64)),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index("ix_station_history_station_id", "station_history", ["station_id"])
    op.create_table(
        "locator_meta",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
