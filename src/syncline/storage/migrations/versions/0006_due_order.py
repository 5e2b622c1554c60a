"""Due deliveries in the order they are claimed: a claim walks the index and stops at its
limit, where `(..., status, next_at)` alone made it sort every due delivery of the webhook
(a backlog of a million was a million-row sort per claim).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ORDER = ["api_space_id", "webhook_id", "status", "next_at", "created_at", "user_id", "revision"]


def upgrade() -> None:
    op.drop_index("deliveries_due", table_name="deliveries")
    op.create_index("deliveries_due", "deliveries", _ORDER)


def downgrade() -> None:
    op.drop_index("deliveries_due", table_name="deliveries")
    op.create_index("deliveries_due", "deliveries", _ORDER[:4])
