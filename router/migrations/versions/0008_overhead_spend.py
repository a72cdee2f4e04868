"""overhead_spend: money spent on routing that no client request carries, so the console's savings are net
of it: `switchyard learn` calls the tiers to answer exported prompts and a judge to grade them, outside
the gateway. One row per labeling run, tier and kind (bounded by runs, not by calls).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overhead_spend",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_nanousd", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
    )
    op.create_index("ix_overhead_spend_created_at", "overhead_spend", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_overhead_spend_created_at", table_name="overhead_spend")
    op.drop_table("overhead_spend")
