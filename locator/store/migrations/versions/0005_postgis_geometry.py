"""Schema version 5: on PostgreSQL with PostGIS, ``stations.geom`` (geography(Point,
4326), generated from lon/lat) with GiST indexes for nearest-neighbour and box queries.

Revision ID: 0005; revises 0004. Nothing changes on SQLite, nor on a PostgreSQL server
without PostGIS (the store works without the column; ``locator migrate`` adds it later,
once PostGIS can be enabled). See :mod:`locator.store.spatial`.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from locator.store.spatial import ensure_geometry

    ensure_geometry(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
