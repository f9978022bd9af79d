"""Billed hours stored when a resource closes, and a covering index for the cost report.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

SPEND_COLUMNS = ["run_id", "started_at", "stopped_at", "price_per_hour", "instance_count",
                 "billable_seconds", "billed_hours"]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("billed_hours", sa.Float))
    op.execute(
        "UPDATE resources SET billed_hours = billable_seconds / 3600.0 "
        "WHERE stopped_at IS NOT NULL AND billable_seconds IS NOT NULL"
    )
    op.create_index("ix_resources_spend", "resources", SPEND_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_resources_spend", "resources")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("billed_hours")
