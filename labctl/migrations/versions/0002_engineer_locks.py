"""A row per engineer to lock while a budget is checked and a run reserved.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table("engineer_locks", sa.Column("engineer", sa.String(200), primary_key=True))


def downgrade() -> None:
    op.drop_table("engineer_locks")
