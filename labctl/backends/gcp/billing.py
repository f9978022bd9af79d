"""Google Cloud's bill: the standard Cloud Billing export to BigQuery
(`PROJECT.DATASET.gcp_billing_export_v1_<BILLING_ACCOUNT_ID>`), summed per UTC day, engineer
label and lab label. Imported only by `labctl cost sync`.

Only the validated table id is written into the SQL; everything else is a query parameter.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import bigquery

from labctl.actuals import BilledRecord
from labctl.cost import GCP_TABLE_ID
from labctl.errors import BackendError, UsageError
from labctl.naming import TAG_KEYS

# `cost` is usage cost before credits, in the billing account's currency; dividing by
# currency_conversion_rate (USD -> that currency) gives USD. The export table is partitioned by
# export time, which is never before usage: the partition filter only prunes, it drops nothing.
QUERY = """\
SELECT
  DATE(usage_start_time) AS day,
  (SELECT l.value FROM UNNEST(labels) AS l WHERE l.key = @engineer_label LIMIT 1) AS engineer,
  IFNULL((SELECT l.value FROM UNNEST(labels) AS l WHERE l.key = @lab_label LIMIT 1), '') AS lab,
  currency,
  SUM(cost) AS cost,
  SUM(cost / currency_conversion_rate) AS cost_usd
FROM `{table}`
WHERE DATE(_PARTITIONTIME) >= @start
  AND usage_start_time >= TIMESTAMP(@start)
  AND usage_start_time < TIMESTAMP(@end)
  AND EXISTS (SELECT 1 FROM UNNEST(labels) AS l WHERE l.key = @engineer_label)
GROUP BY day, engineer, lab, currency
ORDER BY day, engineer, lab"""


def query(table: str, start: date, end: date) -> tuple[str, bigquery.QueryJobConfig]:
    """The SQL and its parameters for [start, end) of the export `table`."""
    if not GCP_TABLE_ID.fullmatch(table):
        raise UsageError(
            f"gcp: '{table}' is not a BigQuery table id",
            hint="billing.gcp_export_table is PROJECT.DATASET.gcp_billing_export_v1_<ACCOUNT>",
        )
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("start", "DATE", start),
            bigquery.ScalarQueryParameter("end", "DATE", end),
            bigquery.ScalarQueryParameter("engineer_label", "STRING", TAG_KEYS[0]),
            bigquery.ScalarQueryParameter("lab_label", "STRING", TAG_KEYS[1]),
        ]
    )
    return QUERY.format(table=table), config


def billed_costs(
    start: date, end: date, *, table: str, project: str | None = None, client: Any = None
) -> list[BilledRecord]:
    """Labelled cost per day, engineer and lab in [start, end); the job runs in `project`
    (default: the export table's project)."""
    sql, config = query(table, start, end)
    source = f"gcp-bq:{table}"
    try:
        bq = client or bigquery.Client(project=project or table.split(".")[0])
        rows = bq.query(sql, job_config=config).result()
        return [
            BilledRecord(
                row["day"], row["engineer"] or "", row["lab"] or "", float(row["cost"] or 0),
                row["currency"], None if row["cost_usd"] is None else float(row["cost_usd"]),
                source,
            )
            for row in rows
        ]  # fmt: skip
    except auth_exc.GoogleAuthError as exc:
        raise BackendError(
            f"gcp billing export: no usable Google credentials ({exc})",
            hint="run `gcloud auth application-default login`, then `labctl doctor`",
        ) from None
    except gexc.GoogleAPICallError as exc:
        hint = None
        if isinstance(exc, gexc.Forbidden):
            hint = "your identity needs bigquery.jobs.create on the project and read access "
            hint += "(roles/bigquery.dataViewer) on the billing export dataset"
        elif isinstance(exc, gexc.NotFound):
            hint = "check billing.gcp_export_table: Billing > Billing export shows the dataset"
        raise BackendError(f"gcp billing export query failed: {exc.message}", hint=hint) from None
