"""Dashboard: per-minute and total event counts, indexes to filter rejected events.

The counts are written in the ingest transaction (`storage.dashboard_sql.count_events`); the
totals start from what the event log and the rejected events already hold.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_counts",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("outcome", sa.Text, primary_key=True),  # accepted | rejected
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "event_totals",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("outcome", sa.Text, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "rejected_by_code", "rejected_events", ["api_space_id", "status", "code", "rejected_id"]
    )
    op.create_index(
        "rejected_by_type", "rejected_events", ["api_space_id", "status", "type", "rejected_id"]
    )
    op.execute(
        "INSERT INTO event_totals (api_space_id, type, outcome, n) "
        "SELECT api_space_id, type, 'accepted', COUNT(*) FROM events GROUP BY api_space_id, type"
    )
    op.execute(
        "INSERT INTO event_totals (api_space_id, type, outcome, n) "
        "SELECT api_space_id, COALESCE(type, 'unknown'), 'rejected', COUNT(*) "
        "FROM rejected_events GROUP BY api_space_id, COALESCE(type, 'unknown')"
    )


def downgrade() -> None:
    op.drop_index("rejected_by_type", "rejected_events")
    op.drop_index("rejected_by_code", "rejected_events")
    op.drop_table("event_totals")
    op.drop_table("event_counts")
