"""Deliveries in flight, by lease end: workers look for lapsed claims every few seconds.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INFLIGHT = sa.text("status = 'inflight'")


def upgrade() -> None:
    op.create_index(
        "deliveries_inflight",
        "deliveries",
        ["claimed_until"],
        sqlite_where=_INFLIGHT,
        postgresql_where=_INFLIGHT,
    )


def downgrade() -> None:
    op.drop_index("deliveries_inflight", table_name="deliveries")
