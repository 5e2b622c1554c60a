"""The dashboard's counters in shards: each writer connection adds to its own row (PostgreSQL:
by backend pid), so ingest transactions of several processes no longer queue on one counter
row until they commit. Readers sum the shards.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = {
    "event_counts": (
        "api_space_id TEXT NOT NULL, minute BIGINT NOT NULL, type TEXT NOT NULL, "
        "outcome TEXT NOT NULL, n BIGINT NOT NULL",
        "api_space_id, minute, type, outcome",
    ),
    "event_totals": (
        "api_space_id TEXT NOT NULL, type TEXT NOT NULL, outcome TEXT NOT NULL, n BIGINT NOT NULL",
        "api_space_id, type, outcome",
    ),
}


def upgrade() -> None:
    for table, (columns, key) in _TABLES.items():
        _rekey(table, columns + ", shard SMALLINT DEFAULT '0' NOT NULL", key + ", shard")


def downgrade() -> None:
    for table, (columns, key) in _TABLES.items():
        # the shards folded into one row per key first
        op.execute(
            f"CREATE TABLE {table}_sum AS SELECT {key}, SUM(n) AS n FROM {table} GROUP BY {key}"
        )
        op.execute(f"DELETE FROM {table}")
        op.execute(f"INSERT INTO {table} ({key}, n, shard) SELECT {key}, n, 0 FROM {table}_sum")
        op.execute(f"DROP TABLE {table}_sum")
        _rekey(table, columns, key)


def _rekey(table: str, columns: str, new_key: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        if "shard" in new_key:
            op.execute(f"ALTER TABLE {table} ADD COLUMN shard SMALLINT DEFAULT '0' NOT NULL")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({new_key})")
        if "shard" not in new_key:
            op.execute(f"ALTER TABLE {table} DROP COLUMN shard")
        return
    # SQLite cannot change a primary key in place: a new table, the rows, the old one dropped.
    names = ", ".join(c.split()[0] for c in columns.split(", ") if c.split()[0] != "shard")
    op.execute(f"CREATE TABLE {table}_new ({columns}, PRIMARY KEY ({new_key}))")
    op.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
