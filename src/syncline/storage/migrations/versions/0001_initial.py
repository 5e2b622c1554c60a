"""Initial schema: spaces, credentials, the event log, users, things, links, rejects, sync.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _space() -> sa.Column[str]:
    return sa.Column("api_space_id", sa.Text, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_spaces",
        _space(),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "credentials",
        _space(),
        sa.Column("credential_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=True),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("credentials_client_id", "credentials", ["client_id"], unique=True)
    op.create_index("credentials_by_id", "credentials", ["credential_id"], unique=True)
    op.create_table(
        "events",
        _space(),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("precedence", sa.SmallInteger, nullable=False),
        sa.Column("user_id", sa.Text, nullable=True),
        sa.Column("thing_id", sa.Text, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False),
    )
    op.create_index("events_by_user", "events", ["api_space_id", "user_id", "timestamp"])
    op.create_index("events_by_thing", "events", ["api_space_id", "thing_id", "timestamp"])
    op.create_index("events_by_type", "events", ["api_space_id", "type", "timestamp"])
    op.create_table(
        "users",
        _space(),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("created", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("unsubscribed", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("users_by_email", "users", ["api_space_id", "email"])
    op.create_table(
        "things",
        _space(),
        sa.Column("thing_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "associations",
        _space(),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("thing_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("associated", sa.Boolean, nullable=False),
    )
    op.create_index("associations_by_thing", "associations", ["api_space_id", "thing_id"])
    op.create_table(
        "unsubscribes",
        _space(),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
    )
    op.create_table(
        "rejected_events",
        _space(),
        sa.Column("rejected_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=True),
        sa.Column("event_index", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("replayed_at", sa.BigInteger, nullable=True),
        sa.Column("replay_count", sa.Integer, nullable=False),
    )
    op.create_index(
        "rejected_by_status", "rejected_events", ["api_space_id", "status", "rejected_id"]
    )
    op.create_table(
        "sync_runs",
        _space(),
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("started_event_id", sa.Text, nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "sync_runs",
        "rejected_events",
        "unsubscribes",
        "associations",
        "things",
        "users",
        "events",
        "credentials",
        "api_spaces",
        "accounts",
    ):
        op.drop_table(table)
