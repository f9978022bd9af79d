"""One engineer, one workspace: identities normalised, workspace paths relative to LABCTL_HOME.

Engineers are lower-cased (labctl.naming.identity), so `Ana@x.io`'s rows and `ana@x.io`'s are one
engineer's; the engineer lock rows are dropped (they are recreated on demand). Workspace paths
inside this LABCTL_HOME become relative to it; existing folders are not moved: a run keeps the
folder it was brought up in until `down` ends it, new runs use the new per-identity folder.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    from labctl.ledger import relative_to_home

    for table in ("runs", "resources", "events", "billed_costs"):
        op.execute(f"UPDATE {table} SET engineer = lower(trim(engineer))")
    op.execute("DELETE FROM engineer_locks")
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.String), sa.column("workspace", sa.Text))
    for run_id, workspace in conn.execute(sa.select(runs.c.id, runs.c.workspace)).all():
        relative = relative_to_home(workspace or "")
        if workspace and relative != workspace:
            conn.execute(runs.update().where(runs.c.id == run_id).values(workspace=relative))


def downgrade() -> None:
    from labctl import paths

    home = str(paths.home()).rstrip("/") + "/"
    op.execute(
        sa.text(
            "UPDATE runs SET workspace = :home || workspace WHERE workspace NOT LIKE '/%'"
        ).bindparams(home=home)
    )
