"""The agent who answered a call (name, device interface, whether rung directly as the
caller's sticky agent) on its call record.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_record") as batch:
        batch.add_column(sa.Column("agent_name", sa.String(100), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("agent_interface", sa.String(100), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("agent_sticky", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("call_record") as batch:
        batch.drop_column("agent_sticky")
        batch.drop_column("agent_interface")
        batch.drop_column("agent_name")
