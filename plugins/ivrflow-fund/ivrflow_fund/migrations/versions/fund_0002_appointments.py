"""Appointments in the demo fund system: a per-slot capacity on each branch (instead of the
morning / afternoon capacities), the bookings, and a usage row per branch, day and slot that
bookings take places from with one conditional update.

Revision ID: fund_0002
Revises: fund_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fund_0002"
down_revision = "fund_0001"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'booked'")


def upgrade() -> None:
    with op.batch_alter_table("fund_branch") as batch:
        batch.add_column(
            sa.Column("slot_capacity", sa.Integer(), nullable=False, server_default="10")
        )
    # a branch seeded by fund_0001 keeps roughly its daily capacity over the four slots
    op.execute(
        "UPDATE fund_branch SET slot_capacity = (morning_capacity + afternoon_capacity + 3) / 4"
    )
    with op.batch_alter_table("fund_branch") as batch:
        batch.drop_column("morning_capacity")
        batch.drop_column("afternoon_capacity")

    op.create_table(
        "fund_appt_usage",
        sa.Column("branch_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("booked", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fund_appt_booking",
        sa.Column("booking_id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("branch_id", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_fund_appt_booking_phone", "fund_appt_booking", ["phone", "status", "day"])
    op.create_index(
        "ux_fund_appt_booking_active_code",
        "fund_appt_booking",
        ["code"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ux_fund_appt_booking_active_code", table_name="fund_appt_booking")
    op.drop_index("ix_fund_appt_booking_phone", table_name="fund_appt_booking")
    op.drop_table("fund_appt_booking")
    op.drop_table("fund_appt_usage")
    with op.batch_alter_table("fund_branch") as batch:
        batch.add_column(
            sa.Column("morning_capacity", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("afternoon_capacity", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE fund_branch SET morning_capacity = slot_capacity * 2, "
        "afternoon_capacity = slot_capacity * 2"
    )
    with op.batch_alter_table("fund_branch") as batch:
        batch.drop_column("slot_capacity")
