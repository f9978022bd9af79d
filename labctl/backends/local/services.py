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
    "dataflow": "labctl.analogues.dataflow",
    "delta-live-tables": "labctl.analogues.databricks",
    "feature-store": "labctl.analogues.databricks",
    "mlflow-model-registry": "labctl.analogues.databricks",
    "mlflow-tracking": "labctl.analogues.databricks",
    "kinesis-data-streams": "labctl.analogues.aws",
    "kinesis-firehose": "labctl.analogues.aws",
    "glue-etl": "labctl.analogues.aws",
    "dynamodb": "labctl.analogues.aws",
    "api-gateway": "labctl.analogues.aws",
    "api-gateway-lambda": "labctl.analogues.aws",
}
# cloud services that configure the account, its network, keys, audit or consoles rather than
# carry the lab's data: the local target skips them with a warning (never refuses the lab), and
# the lab's ML path runs without them. service -> what stands in for it on this machine.
SKIPPED_LOCALLY: dict[str, str] = {
    "kms": "no keys to manage: the local bucket is a folder on this disk",
    "kms-signing": "no KMS signing key on this machine; the artifact is served unsigned",
    "iam": "one local user runs every step; no roles to scope",
    "vpc": "every step runs on this machine, with no network to isolate",
    "vpc-endpoints": "every step runs on this machine, with no network to isolate",
    "waf": "the local endpoint listens on 127.0.0.1 only",
    "cloudtrail": "no cloud API calls to audit; the ledger records every step",
    "aws-config": "no cloud resources to evaluate rules on",
    "cloudwatch-xray": "the step logs under the lab's workspace are the local observability",
    "cloudwatch-dashboard": "`labctl status` and the step logs stand in for the dashboard",
    "cloudwatch-alarms": "`labctl status` and the step logs stand in for the alarms",
    "organizations": "account-wide setting; never changed by labctl",
    "lake-formation": "account-wide setting; the local bucket has no catalog permissions",
    "secrets-manager": "no external credentials to rotate locally",
    "cost-allocation-tags": "the local target costs $0; the ledger tags every row",
    "aws-budgets": "the local target costs $0; labctl's own budget check still applies",
    "s3-object-tagging": "the local bucket is a folder: no object tags or tag-based access",
    "s3-lifecycle": "the local bucket is a folder: `labctl down` deletes it",
    "sagemaker-studio": "use a local Jupyter on the lab's workspace",
    "sagemaker-notebook": "use a local Jupyter on the lab's workspace",
    "sagemaker-model-registry": "the deploy step serves the train step's model directly",
    "iot-greengrass": "no edge device here; the local endpoint serves the same model",
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


def skip_reason(service: str) -> str | None:
    """Why the local target skips `service` (a control-plane service), or None."""
    return SKIPPED_LOCALLY.get(service)


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
