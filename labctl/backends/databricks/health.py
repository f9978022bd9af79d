"""`labctl doctor` lines for Databricks."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dbx_errors
from databricks.sdk.core import Config

from labctl import config
from labctl.backends.databricks import unity
from labctl.backends.databricks.errors import CREDENTIALS_HINT, _first_line, databricks_error


def doctor(client: WorkspaceClient | None = None) -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for Databricks: unified auth, the workspace and who we are there."""
    lines: list[tuple[str, bool, str]] = []
    try:
        if client is None:
            profile = config.settings().databricks.profile
            # doctor answers fast: short HTTP and retry timeouts
            client = WorkspaceClient(
                config=Config(profile=profile, http_timeout_seconds=15, retry_timeout_seconds=30)
            )
    except ValueError as exc:
        return [("credentials", False, f"{_first_line(exc)}: {CREDENTIALS_HINT}")]
    lines.append(("credentials", True, f"{client.config.auth_type} for {client.config.host}"))
    try:
        me = client.current_user.me()
        lines.append(("workspace", True, f"{client.config.host} as {me.user_name}"))
    except dbx_errors.DatabricksError as exc:
        err = databricks_error(exc, what="who am I")
        lines.append(("workspace", False, f"{err.message}: {err.hint or CREDENTIALS_HINT}"))
    except OSError as exc:
        lines.append(("workspace", False, f"cannot reach {client.config.host}: {_first_line(exc)}"))
        return lines
    store = unity.probe(client)  # what `check()` and the lab's module use
    said = f"{store.reason}: labs get a schema and volume there"
    if not store.enabled:
        said = (f"none ({store.reason}): labs use the workspace model registry, Hive metastore "
                "and DBFS; no inference tables or monitors")  # fmt: skip
    lines.append(("unity catalog", True, said))
    return lines
