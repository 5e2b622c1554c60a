"""Webhooks: subscriptions, the profile-event outbox, deliveries and their attempts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("devices", sa.Text, nullable=True))
    op.create_table(
        "webhooks",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text, nullable=True),
        sa.Column("previous_until", sa.BigInteger, nullable=True),
        sa.Column("include_preexisting", sa.Boolean, nullable=False),
        sa.Column("ordering", sa.Text, nullable=False),
        sa.Column("batch_max_events", sa.Integer, nullable=True),
        sa.Column("batch_timeout_s", sa.Integer, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("failing_since", sa.BigInteger, nullable=True),
        sa.Column("last_success_at", sa.BigInteger, nullable=True),
        sa.Column("last_failure_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "profile_events",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("preexisting", sa.Boolean, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Index("profile_events_by_user", "api_space_id", "user_id", "revision"),
        sa.Index("profile_events_by_time", "api_space_id", "at"),
    )
    op.create_table(
        "deliveries",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # pending | inflight | delivered | dead
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_until", sa.BigInteger, nullable=True),
        sa.Column("batch_id", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("done_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Index("deliveries_due", "api_space_id", "webhook_id", "status", "next_at"),
        sa.Index("deliveries_by_profile", "api_space_id", "webhook_id", "user_id", "revision"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("attempt_id", sa.Text, primary_key=True),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("event_ids", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Index("attempts_by_time", "api_space_id", "webhook_id", "at"),
    )


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "profile_events", "webhooks"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("devices")
