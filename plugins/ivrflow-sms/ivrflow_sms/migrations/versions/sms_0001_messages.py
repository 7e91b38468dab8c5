"""The SMS plugin's table: one row per message, with its delivery state.

Revision ID: sms_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sms_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_ref", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("gateway", sa.String(20), nullable=False),
        sa.Column("gateway_id", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("client_ref", name="uq_sms_message_client_ref"),
    )
    op.create_index("ix_sms_message_call_id", "sms_message", ["call_id"])
    op.create_index("ix_sms_message_phone", "sms_message", ["phone"])
    op.create_index("ix_sms_message_status", "sms_message", ["status"])


def downgrade() -> None:
    op.drop_index("ix_sms_message_status", "sms_message")
    op.drop_index("ix_sms_message_phone", "sms_message")
    op.drop_index("ix_sms_message_call_id", "sms_message")
    op.drop_table("sms_message")
