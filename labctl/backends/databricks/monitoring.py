"""Lakehouse Monitoring on databricks: a quality monitor (time-series profile, daily refresh) on
each feature table a feature-store step names in `monitored`, once the table exists (Unity
Catalog only: the monitor writes its profile and drift metrics tables into the lab's schema).

Design choice: made with the SDK after the feature-store job wrote the table (a
`databricks_quality_monitor` in the module would be applied before the table exists); in the
ledger (kind `monitoring-schedule`) before it is created, deleted first by `labctl down`.
"""

from __future__ import annotations

from typing import Any

from databricks.sdk.service import catalog

from labctl.backends.base import Context
from labctl.backends.databricks.names import uc_schema
from labctl.catalog import ServiceStep

REFRESH = "0 0 3 * * ?"  # daily at 03:00 UTC, after the nightly workflow
GRANULARITY = "1 day"


def monitored(step: ServiceStep) -> list[str]:
    value = step.settings.get("monitored", [])
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class LakehouseMonitoring:
    def _monitor_tables(self, step: ServiceStep, ctx: Context, tables: dict[str, Any]) -> dict:
        """A monitor per monitored table the step wrote to Unity Catalog: {table: monitor}."""
        schema = uc_schema(ctx)
        made: dict[str, Any] = {}
        for name in monitored(step):
            table = (tables.get(name) or {}).get("table")
            if not schema or not table:
                continue
            timestamp = (tables[name].get("timestamp_keys") or ["event_ts"])[0]
            res = ctx.ledger.add_resource(
                ctx.run, kind="monitoring-schedule", name=table, region=self.region,
                attrs={"step": step.name},
            )  # fmt: skip
            with ctx.creating(res):
                info = self._api(
                    "create quality monitor",
                    self.w.quality_monitors.create,
                    step=step.name,
                    table_name=table,
                    output_schema_name=schema,
                    assets_dir=f"{ctx.output('workspace_folder')}/monitoring/{name}",
                    time_series=catalog.MonitorTimeSeries(
                        timestamp_col=timestamp, granularities=[GRANULARITY]
                    ),
                    schedule=catalog.MonitorCronSchedule(
                        quartz_cron_expression=REFRESH, timezone_id="UTC"
                    ),
                )
            ctx.ledger.update_resource(res.id, status="created", provider_id=table)
            made[name] = {
                "monitor": table,
                "profile_metrics": info.profile_metrics_table_name if info else None,
                "drift_metrics": info.drift_metrics_table_name if info else None,
            }
        return made
