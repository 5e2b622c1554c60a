"""The schema as SQLAlchemy Core metadata: the source of truth the migrations are checked against.

Every primary key of a space's data leads with `space_key`, the space's short key ("1", "2"...;
`api_spaces` maps each `api_space_id` to it, migration 0008), so the tables can be distributed
by it. JSON documents are stored as text (compact, written by msgspec).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_spaces = sa.Table(
    "api_spaces",
    metadata,
    sa.Column("api_space_id", sa.Text, primary_key=True),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # what every other table stores for the space (0008): "1", "2"... not the 36-char id
    sa.Column("space_key", sa.Text, nullable=False),
    sa.Index("api_spaces_by_key", "space_key", unique=True),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("api_space_id", sa.Text, primary_key=True),
    sa.Column("credential_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # "collect" or "api_token"
    sa.Column("client_id", sa.Text, nullable=True),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Index("credentials_client_id", "client_id", unique=True),
    sa.Index("credentials_by_id", "credential_id", unique=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("precedence", sa.SmallInteger, nullable=False),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("thing_id", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("digest", sa.LargeBinary, nullable=False),
    sa.Index("events_by_user", "space_key", "user_id", "timestamp"),
    sa.Index("events_by_thing", "space_key", "thing_id", "timestamp"),
    sa.Index("events_by_type", "space_key", "type", "timestamp"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("created", sa.Boolean, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("unsubscribed", sa.Boolean, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # the profile as last observed: its revision (-1: never visible), ETag and document
    sa.Column("revision", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("etag", sa.Text, nullable=True),
    sa.Column("profile", sa.Text, nullable=True),
    sa.Column("created_on", sa.BigInteger, nullable=True),
    sa.Column("updated_on", sa.BigInteger, nullable=True),
    sa.Column("devices", sa.Text, nullable=True),  # the things shown in devicesUpdated
    sa.Index("users_by_email", "space_key", "email"),
)

profile_history = sa.Table(
    "profile_history",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("etag", sa.Text, nullable=False),
)

things = sa.Table(
    "things",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("thing_id", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created", sa.Boolean, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

associations = sa.Table(
    "associations",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("thing_id", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("associated", sa.Boolean, nullable=False),
    sa.Index("associations_by_thing", "space_key", "thing_id"),
)

unsubscribes = sa.Table(
    "unsubscribes",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
)

rejected_events = sa.Table(
    "rejected_events",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("rejected_id", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, nullable=True),
    sa.Column("event_index", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending | accepted | duplicate
    sa.Column("replayed_at", sa.BigInteger, nullable=True),
    sa.Column("replay_count", sa.Integer, nullable=False),
    sa.Index("rejected_by_status", "space_key", "status", "rejected_id"),
    sa.Index("rejected_by_code", "space_key", "status", "code", "rejected_id"),
    sa.Index("rejected_by_type", "space_key", "status", "type", "rejected_id"),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
    sa.Column("started_event_id", sa.Text, nullable=True),
    sa.Column("completed_at", sa.BigInteger, nullable=True),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=True),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("webhook_id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    # kept as written: HMAC signing needs the secret itself, not a hash of it
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

# The transactional outbox: one row per profile revision, written with the change itself.
profile_events = sa.Table(
    "profile_events",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("envelope", sa.Text, nullable=False),
    sa.Column("preexisting", sa.Boolean, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("profile_events_by_user", "space_key", "user_id", "revision"),
    sa.Index("profile_events_by_time", "space_key", "at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
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
    sa.Index(  # in claim order (0006): a claim reads its limit, never sorts the backlog
        "deliveries_due",
        "space_key",
        "webhook_id",
        "status",
        "next_at",
        "created_at",
        "user_id",
        "revision",
    ),
    sa.Index("deliveries_by_profile", "space_key", "webhook_id", "user_id", "revision"),
    sa.Index(
        "deliveries_inflight",
        "claimed_until",
        sqlite_where=sa.text("status = 'inflight'"),
        postgresql_where=sa.text("status = 'inflight'"),
    ),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
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
    sa.Index("attempts_by_time", "space_key", "webhook_id", "at"),
)

# The dashboard's counters, written in the ingest transaction: events per minute and in total.
event_counts = sa.Table(
    "event_counts",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("outcome", sa.Text, primary_key=True),  # accepted | rejected
    sa.Column("n", sa.BigInteger, nullable=False),
    # one row per writer connection (0007): concurrent writers never wait on a counter
    sa.Column("shard", sa.SmallInteger, primary_key=True, server_default="0"),
)

event_totals = sa.Table(
    "event_totals",
    metadata,
    sa.Column("space_key", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("outcome", sa.Text, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("shard", sa.SmallInteger, primary_key=True, server_default="0"),
)
