"""The fund plugin's demo fund system: persons, loans, units, logins, credentials, branches,
policy texts.

Revision ID: fund_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fund_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fund_person",
        sa.Column("person_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("monthly_deposit_fen", sa.BigInteger(), nullable=False),
        sa.Column("last_deposit_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(32), nullable=True),
    )
    op.create_table(
        "fund_loan",
        sa.Column("person_id", sa.String(32), primary_key=True),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("remaining_months", sa.Integer(), nullable=False),
        sa.Column("monthly_repayment_fen", sa.BigInteger(), nullable=False),
        sa.Column("next_due_date", sa.Date(), nullable=True),
        sa.Column("progress", sa.String(16), nullable=False),
    )
    op.create_table(
        "fund_unit",
        sa.Column("unit_id", sa.String(32), primary_key=True),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("deposit_status", sa.String(16), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("paid_until", sa.Date(), nullable=True),
    )
    op.create_table(
        "fund_login",
        sa.Column("id_type", sa.String(16), primary_key=True),
        sa.Column("login_id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "fund_credential",
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "fund_branch",
        sa.Column("branch_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("morning_capacity", sa.Integer(), nullable=False),
        sa.Column("afternoon_capacity", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fund_policy",
        sa.Column("topic", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "fund_policy",
        "fund_branch",
        "fund_credential",
        "fund_login",
        "fund_unit",
        "fund_loan",
        "fund_person",
    ):
        op.drop_table(table)
