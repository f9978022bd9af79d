"""Databricks's bill: system.billing.usage priced at system.billing.list_prices, summed per UTC
day, engineer tag and lab tag, run on a SQL warehouse through the Statement Execution API.
Imported only by `labctl cost sync`.

These are DBUs at list price; the cloud VMs under classic compute are on the cloud's own bill.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.sql import (
    Disposition,
    ExecuteStatementRequestOnWaitTimeout,
    Format,
    StatementParameterListItem,
    StatementState,
)

from labctl.actuals import BilledRecord
from labctl.errors import BackendError
from labctl.naming import TAG_KEYS

SOURCE = "databricks:system.billing.usage"
POLL_SECONDS = 2.0
DEADLINE_SECONDS = 600.0

# The price in force when a usage record ended (the validity window), for its SKU, cloud and
# unit. RETRACTION/RESTATEMENT records carry negative/corrected quantities: summing all is right.
QUERY = """\
SELECT
  u.usage_date AS day,
  u.custom_tags[:engineer_tag] AS engineer,
  COALESCE(u.custom_tags[:lab_tag], '') AS lab,
  p.currency_code AS currency,
  SUM(u.usage_quantity * COALESCE(p.pricing.effective_list.default, p.pricing.default)) AS cost
FROM system.billing.usage AS u
JOIN system.billing.list_prices AS p
  ON u.sku_name = p.sku_name
  AND u.cloud = p.cloud
  AND u.usage_unit = p.usage_unit
  AND u.usage_end_time >= p.price_start_time
  AND (p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)
WHERE u.usage_date >= :start
  AND u.usage_date < :end
  AND u.custom_tags[:engineer_tag] IS NOT NULL
GROUP BY ALL
ORDER BY day, engineer, lab"""


def parameters(start: date, end: date) -> list[StatementParameterListItem]:
    return [
        StatementParameterListItem(name="start", value=start.isoformat(), type="DATE"),
        StatementParameterListItem(name="end", value=end.isoformat(), type="DATE"),
        StatementParameterListItem(name="engineer_tag", value=TAG_KEYS[0], type="STRING"),
        StatementParameterListItem(name="lab_tag", value=TAG_KEYS[1], type="STRING"),
    ]


def billed_costs(
    start: date, end: date, *, warehouse_id: str, client: Any = None
) -> list[BilledRecord]:
    """Tagged DBU cost per day, engineer and lab in [start, end)."""
    try:
        w = client or _client()
        rows = _rows(w, warehouse_id, parameters(start, end))
    except DatabricksError as exc:
        hint = None
        if getattr(exc, "error_code", "") in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            hint = "you need SELECT on system.billing (an account admin grants it) and "
            hint += "CAN USE on the warehouse; `labctl doctor` checks the credentials"
        elif getattr(exc, "error_code", "") in ("NOT_FOUND", "RESOURCE_DOES_NOT_EXIST"):
            hint = "check billing.databricks_warehouse_id (SQL Warehouses > Connection details)"
        raise BackendError(f"databricks billing query failed: {exc}", hint=hint) from None
    return [
        BilledRecord(date.fromisoformat(day), engineer or "", lab or "", float(cost or 0),
                     currency, float(cost or 0) if currency == "USD" else None, SOURCE)
        for day, engineer, lab, currency, cost in rows
    ]  # fmt: skip


def _client() -> WorkspaceClient:
    from labctl import config

    profile = config.settings().databricks.profile
    try:
        return WorkspaceClient(profile=profile) if profile else WorkspaceClient()
    except ValueError as exc:  # no usable unified-auth configuration
        raise BackendError(
            f"databricks: cannot authenticate ({exc})",
            hint="set DATABRICKS_HOST and DATABRICKS_TOKEN or a profile in ~/.databrickscfg "
            "([databricks] profile in labctl's config), then run `labctl doctor`",
        ) from None


def _rows(w: WorkspaceClient, warehouse_id: str, params: list[Any]) -> list[list[str]]:
    """Run QUERY, wait for it, and read every chunk of its JSON_ARRAY result."""
    api = w.statement_execution
    resp = api.execute_statement(
        statement=QUERY, warehouse_id=warehouse_id, parameters=params, wait_timeout="30s",
        on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE,
        disposition=Disposition.INLINE, format=Format.JSON_ARRAY,
    )  # fmt: skip
    deadline = time.monotonic() + DEADLINE_SECONDS
    while resp.status and resp.status.state in (StatementState.PENDING, StatementState.RUNNING):
        if time.monotonic() > deadline:
            api.cancel_execution(resp.statement_id)
            raise BackendError(
                f"databricks billing query still running after {DEADLINE_SECONDS:.0f} s; cancelled",
                hint="is the SQL warehouse starting? run `labctl cost sync` again",
            )
        time.sleep(POLL_SECONDS)
        resp = api.get_statement(resp.statement_id)
    state = resp.status.state if resp.status else None
    if state != StatementState.SUCCEEDED:
        error = resp.status.error if resp.status else None
        message = error.message if error and error.message else "no message"
        raise BackendError(f"databricks billing query {state.value if state else '?'}: {message}")
    rows: list[list[str]] = []
    chunk = resp.result
    while chunk is not None:
        rows += chunk.data_array or []
        if chunk.next_chunk_index is None:
            break
        chunk = api.get_statement_result_chunk_n(resp.statement_id, chunk.next_chunk_index)
    return rows
