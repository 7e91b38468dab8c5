"""The schedule plugin's tables: named schedules and admin overrides.

Revision ID: schedule_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schedule_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedule_schedule",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "schedule_override",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "schedule",
            sa.String(64),
            sa.ForeignKey("schedule_schedule.name", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("starts_at", TS, nullable=True),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_schedule_override_schedule", "schedule_override", ["schedule"])
    op.create_index("ix_schedule_override_day", "schedule_override", ["day"])


def downgrade() -> None:
    op.drop_index("ix_schedule_override_day", "schedule_override")
    op.drop_index("ix_schedule_override_schedule", "schedule_override")
    op.drop_table("schedule_override")
    op.drop_table("schedule_schedule")
