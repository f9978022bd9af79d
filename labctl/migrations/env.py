"""Alembic environment: labctl passes its own connection (see labctl.ledger._migrate)."""

from alembic import context

from labctl.ledger import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
