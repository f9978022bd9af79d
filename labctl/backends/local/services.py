"""Local analogues of cloud services (`service` steps) and the MLflow tracking of local jobs."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from labctl.backends.base import Context

# cloud service -> the module of its local analogue (a `SERVICES` dict: service -> function)
ANALOGUES: dict[str, str] = {
    "bigquery": "labctl.analogues.bigquery",
    "bigquery-ml": "labctl.analogues.bigquery",
    "delta-live-tables": "labctl.analogues.databricks",
    "feature-store": "labctl.analogues.databricks",
    "mlflow-model-registry": "labctl.analogues.databricks",
    "mlflow-tracking": "labctl.analogues.databricks",
}
SPARK_EXTRA = "pip install 'labctl[spark]' (pyspark and MLflow; Java 17 or later)"


def has_module(module: str) -> bool:
    """Whether `module` is importable (without importing it)."""
    return importlib.util.find_spec(module) is not None


def analogue(service: str) -> Any:
    """The function that runs `service`'s local analogue, or None when there is none."""
    module = ANALOGUES.get(service)
    if module is None or importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module).SERVICES.get(service)


def tracking_env(ctx: Context) -> dict[str, str]:
    """MLflow tracking and registry for the lab's jobs: a SQLite store in its workspace.

    A job that tracks a run writes `output/data/tracking.json` (e.g. `{"mlflow_run_id": ...}`),
    which lands in the job's ledger row and step result, so `labctl status` can show it.
    """
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{ctx.workspace / 'mlflow.db'}",
        "MLFLOW_REGISTRY_URI": f"sqlite:///{ctx.workspace / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": ctx.lab_name,
        "LABCTL_RUN_ID": str(ctx.run.id),
    }
