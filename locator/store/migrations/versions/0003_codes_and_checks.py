"""Schema version 3: who verified a station, its star level, its public code and the
"reported closed" flag. Every existing station gets its code here, derived from its id
(:func:`locator.stations.codes.candidate_code`, oldest station first on a collision).

Revision ID: 0003; revises 0002.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from locator.stations.codes import candidate_code

    op.add_column("stations", sa.Column("verified_by", sa.String(100), nullable=False,
                                        server_default=""))
    op.add_column("stations", sa.Column("star_level", sa.Integer, nullable=True))
    op.add_column("stations", sa.Column("code", sa.String(12), nullable=True))
    op.add_column("stations", sa.Column("reported_closed_at", sa.DateTime(timezone=True),
                                        nullable=True))
    conn = op.get_bind()
    ids = list(conn.execute(sa.text("SELECT id FROM stations ORDER BY created_at, id"))
               .scalars())
    taken: set[str] = set()
    rows = []
    for sid in ids:
        code, salt = candidate_code(sid), 0
        while code in taken:
            salt += 1
            code = candidate_code(sid, salt)
        taken.add(code)
        rows.append({"b_id": sid, "c": code})
    if rows:
        conn.execute(sa.text("UPDATE stations SET code = :c WHERE id = :b_id"), rows)
    op.create_index("ix_stations_code", "stations", ["code"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("schema downgrades are not supported: restore the backup "
                              "taken before `locator migrate`")
