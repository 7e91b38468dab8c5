"""The lists plugin's table: block / allow / VIP entries.

Revision ID: lists_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lists_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lists_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("list", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("list", "kind", "value", name="uq_lists_entry_value"),
    )


def downgrade() -> None:
    op.drop_table("lists_entry")
