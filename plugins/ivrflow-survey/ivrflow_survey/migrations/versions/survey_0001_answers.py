"""The survey plugin's table: one row per answered question.

Revision ID: survey_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "survey_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("question", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("scale_min", sa.Integer(), nullable=False),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_survey_answer_day", "survey_answer", ["day"])
    op.create_index("ix_survey_answer_call_id", "survey_answer", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_survey_answer_call_id", "survey_answer")
    op.drop_index("ix_survey_answer_day", "survey_answer")
    op.drop_table("survey_answer")
