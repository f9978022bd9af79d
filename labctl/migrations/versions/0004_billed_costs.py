"""Billed actuals from the clouds' bills (`labctl cost sync`) and the days each sync covers.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "billed_costs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("engineer", sa.String(200), nullable=False),
        sa.Column("engineer_tag", sa.String(256), nullable=False),
        sa.Column("lab", sa.String(256), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("amount_usd", sa.Float, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("synced_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("target", "day", "engineer_tag", "lab", name="uq_billed_costs_key"),
    )
    # covering index for the report's per-engineer sums over a month's days
    op.create_index(
        "ix_billed_costs_spend",
        "billed_costs",
        ["day", "engineer", "target", "lab", "amount_usd"],
    )
    op.create_table(
        "billing_syncs",
        sa.Column("target", sa.String(16), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("covered_from", sa.Date, nullable=False),
        sa.Column("covered_until", sa.Date, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("total_usd", sa.Float, nullable=False),
        sa.Column("synced_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("billing_syncs")
    op.drop_index("ix_billed_costs_spend", "billed_costs")
    op.drop_table("billed_costs")
