"""The first ledger: runs, resources, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("engineer", sa.String(200), nullable=False, index=True),
        sa.Column("lab", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("region", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("workspace", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("autostop_at", sa.DateTime),
        sa.Column("estimate_usd", sa.Float),
        sa.Column("outputs", sa.JSON, nullable=False),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("run_id", sa.String(16), sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("engineer", sa.String(200), nullable=False, index=True),
        sa.Column("lab", sa.String(64), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("provider_id", sa.Text),
        sa.Column("region", sa.String(32)),
        sa.Column("instance_type", sa.String(64)),
        sa.Column("instance_count", sa.Integer, nullable=False),
        sa.Column("price_per_hour", sa.Float),
        sa.Column("price_source", sa.String(200)),
        sa.Column("spot", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False, index=True),
        sa.Column("stopped_at", sa.DateTime, index=True),
        sa.Column("billable_seconds", sa.Float),
        sa.Column("attrs", sa.JSON, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(16), index=True),
        sa.Column("engineer", sa.String(200), nullable=False),
        sa.Column("lab", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("resources")
    op.drop_table("runs")
