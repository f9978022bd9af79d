"""The study layer: milestones done by hand, exam results, labs reused on client work.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "milestone_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("engineer", sa.String(200), nullable=False, index=True),
        sa.Column("lab", sa.String(64), nullable=False),
        sa.Column("milestone", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "exam_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("engineer", sa.String(200), nullable=False, index=True),
        sa.Column("cert", sa.String(64), nullable=False, index=True),
        sa.Column("taken_on", sa.Date, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("domain_scores", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "lab_reuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("engineer", sa.String(200), nullable=False, index=True),
        sa.Column("lab", sa.String(64), nullable=False, index=True),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("used_on", sa.Date, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lab_reuses")
    op.drop_table("exam_results")
    op.drop_table("milestone_marks")
