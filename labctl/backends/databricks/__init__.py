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
- deploy: a serving endpoint (scale-to-zero on) over the registered model version, writing
  inference tables into the lab's schema when the step captures data (Unity Catalog);
- delta-live-tables: an update of the lab's `databricks_pipeline` (Terraform, from
  labctl/pipelines/dlt_features.py), waited on; rows and expectations from its event log (dlt);
- feature-store: the feature pipeline as a job task, from the DLT silver table; under Unity
  Catalog each table also a Delta table with its primary key, and a Lakehouse monitor on each
  `monitored` table (monitoring);
- pipeline: the lab's Workflows job, one task per step in order, on its schedule, run once
  (workflow).

Unity Catalog or the workspace registry is chosen by a probe of the metastore assignment (unity):
with it, a schema and a volume per engineer and lab (Terraform), models in UC with aliases,
serverless pipelines, dedicated job clusters; without it, DBFS, Hive and the workspace registry,
and `plan` says what the lab then lacks.

Every billable resource (job run, pipeline update, endpoint) is in the ledger before it is
created, priced at launch (DBU rate x DBUs of the node + its VM; both parts in attrs). Teardown
deletes monitors, stops the workflow's runs and pipeline updates before it deletes endpoints and
models, cancels runs still going, deletes the workflow job and the data folder; `terraform
destroy` removes the policies, pipeline, schema (with its tables), volume, folder and experiment.

Design choices:
- databricks-sdk is imported in this package only; the client uses unified authentication (a
  profile from `[databricks] profile`, else DATABRICKS_* environment, ~/.databrickscfg DEFAULT,
  OAuth...).
- Every SDK call goes through `_api`, the one place SDK errors become `BackendError`s with hints.
- Waiting polls with an injected `sleep` and `clock`; an interrupt cancels the run being waited on.

Layout (one concern per module; the mixins are composed into `DatabricksBackend` in backend.py):
client (workspace client, `_api`), checks, runs (job runs: upload, submit, wait), clusters (job
cluster specs) and nodes (node types per cloud), training (data, train, tune), serving, services,
dlt, workflow, monitoring, unity, teardown, names, errors, health (`labctl doctor` lines), job (the
launcher uploaded as a file), billing (system.billing.usage, for `labctl cost sync`); with no SDK:
lab_inputs (the module's inputs from the lab) and estimate (what `plan` adds to the estimate).
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
