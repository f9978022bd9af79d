"""Local analogues of the Databricks services the Databricks labs use.

- delta-live-tables: the lab's DLT pipeline file (labctl/pipelines/dlt_features.py, the source
  of the Databricks pipeline) on local Spark over the data step's raw (bronze) table:
  expectations drop bad rows (counted per expectation, as DLT's event log does), bronze, silver
  and gold tables are written under `<bucket>/dlt/<target_schema>/` as Parquet with a `_delta_log`
  (Delta-compatible without the Delta jars, which labctl cannot fetch);
- feature-store: feature tables as Parquet under `<bucket>/feature-store/<table>/`, one row per
  (key, day) for point-in-time lookups, with a `_feature_table.json` naming the primary and
  timestamp keys; a `monitored` table gets a drift report (earlier days against later days)
  from `labctl.drift`, in `_drift_report.json` beside it;
- mlflow-tracking: the lab's experiment in the local SQLite tracking store;
- mlflow-model-registry: registers the model of the lab's tracked train step in the local SQLite
  registry and points its aliases (challenger, champion) at the new version.

Each function takes `(step, ctx)` and returns the step's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.errors import BackendError

if TYPE_CHECKING:
    from labctl.backends.base import Context
    from labctl.catalog import ServiceStep

EXPECTATIONS = {  # pandas twins of dlt_features.EXPECTATIONS, for labs with no DLT step
    "valid_customer": "customer_id.notna()",
    "positive_price": "price > 0",
    "non_negative_quantity": "quantity >= 0",
}


def _bucket(ctx: Context) -> Path:
    return Path(ctx.infra.get("bucket") or ctx.workspace / "bucket")


def _raw_dir(ctx: Context, step: ServiceStep) -> Path:
    """The raw folder of the lab's data step (the bronze input)."""
    for result in ctx.results.values():
        if (
            isinstance(result, dict)
            and result.get("dir")
            and (Path(result["dir"]) / "raw").is_dir()
        ):
            return Path(result["dir"]) / "raw"
    raise BackendError(f"step '{step.name}' needs the lab's data step to have run first")


def _setting_list(step: ServiceStep, key: str, default: list[str]) -> list[str]:
    value = step.settings.get(key, default)
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def delta_live_tables(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """The lab's DLT pipeline (labctl/pipelines/dlt_features.py, the file Databricks runs) on
    local Spark: bronze -> silver (expectations) -> gold, as Delta-compatible Parquet tables."""
    from labctl.backends.local.services import SPARK_EXTRA, has_module

    if not has_module("pyspark"):
        raise BackendError(
            f"step '{step.name}': the Delta Live Tables pipeline runs on local Spark",
            hint=SPARK_EXTRA,
        )
    from labctl.pipelines import dlt_features, dlt_local

    schema = str(step.settings.get("target_schema", "dlt"))
    out = _bucket(ctx) / "dlt" / schema
    ran = dlt_local.run(
        _raw_dir(ctx, step) / "transactions.parquet",
        out,
        expectations=bool(step.settings.get("expectations", True)),
    )
    tables = ran["tables"]
    return {
        "pipeline": f"{ctx.lab_name}-{step.name}",
        "mode": step.settings.get("mode", "triggered"),
        "dir": str(out),
        "format": "delta",
        "tables": tables,
        "expectations": {
            "dropped": ran["dropped"],
            "passed": tables[dlt_features.SILVER],
            "bronze": tables[dlt_features.BRONZE],
        },
        # `labctl status` shows a step's metrics: the rows of each table, the rows dropped
        "metrics": {
            **{f"rows:{name}": n for name, n in tables.items()},
            **{f"dropped:{name}": n for name, n in ran["dropped"].items()},
        },
    }


def feature_store(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Customer and product feature tables keyed by id and day (point-in-time lookups)."""
    import pandas as pd

    bucket = _bucket(ctx)
    silver = next(bucket.glob("dlt/*/silver_transactions"), None)
    if silver is not None:
        events = pd.read_parquet(silver)
    else:  # no DLT step: clean the raw data the same way
        events = pd.read_parquet(_raw_dir(ctx, step) / "transactions.parquet")
        for rule in EXPECTATIONS.values():
            events = events[events.eval(rule)]
        events = events.assign(customer_id=events["customer_id"].astype("int64"))
    timestamp_key = str(step.settings.get("timestamp_key", "event_ts"))
    keys = _setting_list(step, "primary_keys", ["customer_id", "product_id"])
    names = _setting_list(step, "tables", [f"{k.removesuffix('_id')}_features" for k in keys])
    events = events.sort_values("event_ts")
    day = events["event_ts"].dt.floor("D")
    result: dict[str, Any] = {}
    for table, key in zip(names, keys, strict=False):
        daily = (
            events.assign(**{timestamp_key: day})
            .groupby([key, timestamp_key], as_index=False)
            .agg(views=("event_id", "size"), purchases=("purchased", "sum"), spend=("price", "sum"))
        )
        grouped = daily.groupby(key)
        daily["views_cum"] = grouped["views"].cumsum()
        daily["purchases_cum"] = grouped["purchases"].cumsum()
        daily["conversion_rate_cum"] = (daily["purchases_cum"] / daily["views_cum"]).round(4)
        daily["spend_7d"] = (
            grouped["spend"].rolling(7, min_periods=1).sum().reset_index(level=0, drop=True)
        ).round(2)
        folder = bucket / "feature-store" / table
        folder.mkdir(parents=True, exist_ok=True)
        daily.to_parquet(folder / "part-0.parquet", index=False)
        meta = {
            "name": table,
            "primary_keys": [key],
            "timestamp_keys": [timestamp_key],
            "features": [c for c in daily.columns if c not in (key, timestamp_key)],
            "online_store": bool(step.settings.get("online_store", False)),
            "format": "parquet",
        }
        (folder / "_feature_table.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        result[table] = {"dir": str(folder), "rows": len(daily), **meta}
        if table in _setting_list(step, "monitored", []):
            result[table]["drift"] = _drift(daily, timestamp_key, meta["features"], folder)
    return {"tables": result}


def _drift(daily: Any, timestamp_key: str, features: list[str], folder: Path) -> dict[str, Any]:
    """A monitored table's drift (what Lakehouse Monitoring profiles in the cloud): its earlier
    days as the baseline against its later days, by `labctl.drift.drift_report`, written to
    `_drift_report.json` next to the table."""
    try:
        from labctl.drift import drift_report
    except ImportError:  # labctl/drift.py comes with the Google Cloud half of issue 17
        return {"skipped": "labctl.drift is not available in this labctl"}
    cut = daily[timestamp_key].quantile(0.5)
    baseline = daily[daily[timestamp_key] <= cut][features]
    current = daily[daily[timestamp_key] > cut][features]
    report = drift_report(baseline, current, thresholds=None)
    path = folder / "_drift_report.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return {"report": str(path), "baseline_rows": len(baseline), "current_rows": len(current)}


def _mlflow(ctx: Context) -> Any:
    import mlflow

    from labctl.backends.local import tracking_env

    env = tracking_env(ctx)
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(env["MLFLOW_REGISTRY_URI"])
    return mlflow


def mlflow_tracking(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """The experiment the lab's jobs track to (their MLFLOW_EXPERIMENT_NAME), artifacts in the
    lab's bucket; the Databricks path in `settings.experiment` is kept as a tag."""
    mlflow = _mlflow(ctx)
    found = mlflow.get_experiment_by_name(ctx.lab_name)
    if found is None:
        artifacts = (_bucket(ctx) / "mlflow-artifacts").resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            ctx.lab_name,
            artifact_location=artifacts.as_uri(),
            tags={"databricks_path": str(step.settings.get("experiment", ""))},
        )
    else:
        experiment_id = found.experiment_id
    return {
        "experiment": ctx.lab_name,
        "experiment_id": experiment_id,
        "tracking_uri": mlflow.get_tracking_uri(),
        "autolog": bool(step.settings.get("autolog", False)),
    }


def mlflow_model_registry(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Register the newest tracked train step's model; point the aliases at the new version."""
    source = str(step.settings.get("model", "")) or None
    tracked = [
        (name, r["tracking"])
        for name, r in ctx.results.items()
        if isinstance(r, dict)
        and (r.get("tracking") or {}).get("mlflow_run_id")
        and (source is None or name == source)
    ]
    if not tracked:
        raise BackendError(
            f"step '{step.name}': no train step of this lab tracked an MLflow run to register",
            hint="the lab's train step must run before it, with MLflow tracking",
        )
    step_name, tracking = tracked[-1]
    mlflow = _mlflow(ctx)
    name = str(step.settings.get("model_name", f"{ctx.lab_name}-{step_name}"))
    uri = tracking.get("model_uri") or f"runs:/{tracking['mlflow_run_id']}/model"
    version = mlflow.register_model(uri, name)
    client = mlflow.MlflowClient()
    aliases = _setting_list(step, "aliases", ["champion"])
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version.version)
    return {
        "model_name": name,
        "version": str(version.version),
        "aliases": aliases,
        "source_step": step_name,
        "tracking": {
            **tracking,
            "registered_model": {"name": name, "version": str(version.version)},
        },
    }


SERVICES = {
    "delta-live-tables": delta_live_tables,
    "feature-store": feature_store,
    "mlflow-tracking": mlflow_tracking,
    "mlflow-model-registry": mlflow_model_registry,
}
