"""The databricks target's plumbing: the workspace client and the one place SDK errors
become BackendErrors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dbx_errors

from labctl import config
from labctl.backends.databricks.errors import CREDENTIALS_HINT, _first_line, databricks_error
from labctl.errors import BackendError
from labctl.prices import DEFAULT_REGION

POLL_SECONDS = 20.0


def _module_sleep(seconds: float) -> None:
    time.sleep(seconds)


class DatabricksClient:
    """The workspace client (unified auth, made on first use) and `_api`."""

    def __init__(
        self,
        *,
        client: WorkspaceClient | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._w = client
        self._uploaded: set[str] = set()  # workspace paths written by this labctl process
        self._sleep = sleep or _module_sleep
        self._clock = clock or time.monotonic
        self.poll_seconds = poll_seconds
        self.region = DEFAULT_REGION["databricks"]  # the price catalog's region for DBU rates

    @property
    def w(self) -> WorkspaceClient:
        """The workspace client, made on first use from unified authentication."""
        if self._w is None:
            profile = config.settings().databricks.profile
            try:
                self._w = WorkspaceClient(profile=profile) if profile else WorkspaceClient()
            except ValueError as exc:  # the SDK's "cannot configure default credentials"
                raise BackendError(
                    f"no usable Databricks credentials: {_first_line(exc)}", hint=CREDENTIALS_HINT
                ) from None
        return self._w

    def _api(
        self,
        what: str,
        call: Callable[..., Any],
        *,
        step: str | None = None,
        gone_ok: bool = False,
        **params: Any,
    ) -> Any:
        """One SDK call; the one place its errors become `BackendError`s (None: gone, if ok)."""
        where = f"step '{step}': " if step else ""
        try:
            return call(**params)
        except (dbx_errors.NotFound, dbx_errors.ResourceDoesNotExist) as exc:
            if gone_ok:
                return None
            raise BackendError(f"{where}{what} failed: {_first_line(exc)}") from None
        except dbx_errors.DatabricksError as exc:
            raise databricks_error(exc, what=what, where=where) from None
        except ValueError as exc:  # unified auth found nothing usable
            raise BackendError(
                f"{where}no usable Databricks credentials: {_first_line(exc)}",
                hint=CREDENTIALS_HINT,
            ) from None
        except OSError as exc:  # requests' ConnectionError and friends
            raise BackendError(
                f"{where}{what} failed: cannot reach the workspace ({_first_line(exc)})",
                hint="check DATABRICKS_HOST / the profile's host and the network, then "
                "`labctl doctor`",
            ) from None
