"""The prompt library: variants (prompt × language) with status, audio blobs, the prompts
pinned by each published version and its audio fingerprint, per-entry publishing policies.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("flow_version") as batch:
        batch.add_column(sa.Column("prompts_sha", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "prompt_variant",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("audio_sha", sa.String(64), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("tts_engine", sa.String(32), nullable=False),
        sa.Column("tts_voice", sa.String(64), nullable=False),
        sa.Column("spoken_text", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(200), nullable=False),
        sa.Column("original_format", sa.String(16), nullable=False),
        sa.Column("original_sha", sa.String(64), nullable=False),
        sa.Column("original_bytes", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", TS, nullable=True),
        sa.Column("approved_by", sa.String(100), nullable=False),
        sa.Column("approved_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("prompt_id", "language"),
    )
    op.create_index("ix_prompt_variant_prompt_id", "prompt_variant", ["prompt_id"])
    op.create_table(
        "audio_blob",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("wav", sa.LargeBinary(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "version_prompt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("audio_sha", sa.String(64), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.UniqueConstraint("flow_id", "version", "prompt_id", "language"),
    )
    op.create_index("ix_version_prompt_flow_id", "version_prompt", ["flow_id"])
    op.create_table(
        "entry_policy",
        sa.Column("entry", sa.String(100), primary_key=True),
        sa.Column("require_approved", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("flow_version") as batch:
        batch.drop_column("prompts_sha")
    for table in ("entry_policy", "version_prompt", "audio_blob", "prompt_variant"):
        op.drop_table(table)
