"""The `databricks` target: the lab's steps as one-time job runs and Model Serving endpoints.

Terraform (terraform/modules/databricks) makes the lab's cluster policy (auto-termination, the
labctl-* custom tags, node types and worker caps), its workspace folder and MLflow experiment.
This package, on databricks-sdk, uploads the lab's code (entry points, the training contract, the
data generator, the launcher `databricks/job.py`) to `<folder>/code` and runs each step as a
`jobs/runs/submit` one-time run on a job cluster under the policy:

- data: the seeded generator on a single-node cluster, Parquet to `dbfs:/labctl/<eng>/<lab>/`;
- train: the lab's entry point (same file as on the local target) under the training contract,
  Spark MLlib on a multi-node cluster for `algorithm: spark-mllib`, single node otherwise; MLflow
  tracks to the lab's experiment and registers the model a later step serves or registers;
- tune: Optuna on the driver, trials fanned out as Spark tasks, `max_parallel_jobs` at a time;
- deploy: a serving endpoint (scale-to-zero on) over the registered model version;
- delta-live-tables / feature-store: the local feature pipeline as a job task (Parquet tables).

Every billable resource (job run, endpoint) is in the ledger before it is created, priced at
launch (DBU rate x DBUs of the node + its VM; both parts in attrs). Teardown deletes endpoints,
cancels runs still going, deletes registered models and the data folder; `terraform destroy`
removes the policy, folder (with the code) and experiment.

Design choices:
- databricks-sdk is imported in this package only; the client uses unified authentication (a
  profile from `[databricks] profile`, else DATABRICKS_* environment, ~/.databrickscfg DEFAULT,
  OAuth...).
- Every SDK call goes through `_api`, the one place SDK errors become `BackendError`s with hints.
- Waiting polls with an injected `sleep` and `clock`; an interrupt cancels the run being waited on.

Layout (one concern per module; the mixins are composed into `DatabricksBackend` in backend.py):
client (workspace client, `_api`), checks, runs (job runs: upload, submit, wait), clusters (job
cluster specs) and nodes (node types per cloud), training (data, train, tune), serving, services,
teardown, names, errors, health (`labctl doctor` lines), job (the launcher uploaded as a file),
billing (system.billing.usage, for `labctl cost sync`).
Importing this package imports no SDK: names are loaded from their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DatabricksBackend": "backend",
    "doctor": "health",
    "databricks_error": "errors",
    "dbx_name": "names",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
