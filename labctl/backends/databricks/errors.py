"""Databricks SDK errors as BackendErrors with a hint."""

from __future__ import annotations

from databricks.sdk import errors as dbx_errors

from labctl.errors import BackendError

CREDENTIALS_HINT = (
    "configure Databricks unified auth: `databricks auth login --host <workspace-url>` (OAuth) "
    "or DATABRICKS_HOST + DATABRICKS_TOKEN, or `[databricks] profile` in the labctl config; "
    "then run `labctl doctor`"
)


def databricks_error(exc: Exception, *, what: str, where: str = "") -> BackendError:
    """An SDK error as a BackendError: what failed, the error code, a hint."""
    code = getattr(exc, "error_code", None) or type(exc).__name__
    message = f"{where}{what} failed with {code}: {_first_line(exc)}"
    hint: str | None = None
    if isinstance(exc, dbx_errors.Unauthenticated):
        hint = CREDENTIALS_HINT
    elif isinstance(exc, dbx_errors.PermissionDenied):
        hint = (
            "your Databricks identity lacks a permission for this (CAN_USE on the lab's cluster "
            "policy, cluster creation, Model Serving): ask a workspace admin"
        )
    elif isinstance(exc, dbx_errors.ResourceExhausted | dbx_errors.TooManyRequests):
        hint = "a workspace quota or rate limit: wait, or ask for a higher limit"
    elif isinstance(exc, dbx_errors.InvalidParameterValue | dbx_errors.BadRequest):
        hint = "the request was refused as sent; the lab's policy may forbid these settings"
    elif isinstance(exc, dbx_errors.ResourceAlreadyExists):
        hint = "it already exists: `labctl status` shows what is up"
    return BackendError(message, hint=hint)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
