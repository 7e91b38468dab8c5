"""The area plugin's table: number prefixes → regions, seeded with a small sample.

Revision ID: area_0001
Revises:
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "area_0001"
down_revision = None
branch_labels = None
depends_on = None

SEED = [
    # landline area codes
    ("010", "beijing", "北京"),
    ("021", "shanghai", "上海"),
    ("020", "guangzhou", "广州"),
    ("0755", "shenzhen", "深圳"),
    ("0769", "dongguan", "东莞"),
    ("0757", "foshan", "佛山"),
    ("027", "wuhan", "武汉"),
    ("028", "chengdu", "成都"),
    # mobile number segments (号段) — a sample: load the operator's full table
    ("1380013", "beijing", "示例号段 / sample segment"),
    ("1380021", "shanghai", "示例号段 / sample segment"),
    ("1380075", "shenzhen", "示例号段 / sample segment"),
    ("1392370", "shenzhen", "示例号段 / sample segment"),
    ("1350020", "guangzhou", "示例号段 / sample segment"),
]


def upgrade() -> None:
    table = op.create_table(
        "area_prefix",
        sa.Column("prefix", sa.String(8), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_area_prefix_region", "area_prefix", ["region"])
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {"prefix": p, "region": r, "note": n, "updated_at": now, "updated_by": "seed"}
            for p, r, n in SEED
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_area_prefix_region", "area_prefix")
    op.drop_table("area_prefix")
