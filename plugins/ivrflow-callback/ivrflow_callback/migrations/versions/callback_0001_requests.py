"""The callback plugin's table: callback requests, one pending request per number.

Revision ID: callback_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "callback_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "callback_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("last_requested_at", TS, nullable=False),
        sa.Column("handled_at", TS, nullable=True),
        sa.Column("handled_by", sa.String(100), nullable=True),
        sa.Column("result", sa.String(500), nullable=True),
    )
    # at most one pending request per number: the database refuses a second one, so two
    # calls registering the same number at once cannot both insert
    op.create_index(
        "uq_callback_request_pending_phone",
        "callback_request",
        ["phone"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_callback_request_status_requested", "callback_request", ["status", "requested_at"]
    )
    op.create_index("ix_callback_request_requested_at", "callback_request", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_callback_request_requested_at", table_name="callback_request")
    op.drop_index("ix_callback_request_status_requested", table_name="callback_request")
    op.drop_index("uq_callback_request_pending_phone", table_name="callback_request")
    op.drop_table("callback_request")
