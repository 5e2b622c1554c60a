"""Profiles: revision, ETag and document on users; the revision history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="-1"))
        batch.add_column(sa.Column("etag", sa.Text, nullable=True))
        batch.add_column(sa.Column("profile", sa.Text, nullable=True))
        batch.add_column(sa.Column("created_on", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("updated_on", sa.BigInteger, nullable=True))
    op.create_table(
        "profile_history",
        sa.Column("api_space_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_history")
    with op.batch_alter_table("users") as batch:
        for column in ("updated_on", "created_on", "profile", "etag", "revision"):
            batch.drop_column(column)
