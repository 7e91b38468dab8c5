"""The runtime's tables: published flow versions, entries and their moves, call records,
queue legs. Databases made before migrations existed hold exactly these and are stamped here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flow_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("dependencies", sa.JSON(), nullable=True),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("flow_id", "version"),
    )
    op.create_index("ix_flow_version_flow_id", "flow_version", ["flow_id"])
    op.create_table(
        "entry",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "entry_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry", sa.String(100), nullable=False),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_entry_change_entry", "entry_change", ["entry"])
    op.create_table(
        "call_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("called", sa.String(64), nullable=False),
        sa.Column("entry", sa.String(100), nullable=False),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("outcome_node", sa.String(64), nullable=False),
        sa.Column("outcome_detail", sa.String(500), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=True),
        sa.Column("missing_prompts", sa.JSON(), nullable=True),
    )
    op.create_index("ix_call_record_started", "call_record", ["started_at"])
    op.create_index("ix_call_record_caller", "call_record", ["caller"])
    op.create_index("ix_call_record_call_id", "call_record", ["call_id"])
    op.create_table(
        "queue_leg",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("connected_at", TS, nullable=True),
        sa.Column("left_at", TS, nullable=True),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("hold_s", sa.Float(), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=True),
        sa.Column("wrapup_s", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
    )
    op.create_index("ix_queue_leg_uniqueid", "queue_leg", ["uniqueid"])


def downgrade() -> None:
    for table in ("queue_leg", "call_record", "entry_change", "entry", "flow_version"):
        op.drop_table(table)
