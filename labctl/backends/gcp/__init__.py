"""The `gcp` target: the lab's steps on Vertex AI (GAPIC `aiplatform_v1`) and BigQuery.

Terraform (terraform/modules/gcp) makes the lab's bucket, service account and BigQuery dataset;
this package runs the steps against them: data to Cloud Storage, custom training (a CustomJob
running the lab's entry point in a prebuilt training container), hyperparameter tuning jobs,
AutoML image training pipelines, Model upload with a prebuilt prediction container, endpoints
with traffic splits, batch prediction, and the labs' BigQuery / BigQuery ML steps. Every billable
resource is written to the ledger before the call that creates it and carries the labctl labels.

Design choices:
- Only the GAPIC layer (`google.cloud.aiplatform_v1`) is used, never the high-level SDK: every
  request is a typed protobuf message built here (unknown fields are refused at construction),
  and tests patch the client methods as google-cloud-aiplatform's own unit tests do.
- Credentials come only from Application Default Credentials (`google.auth.default`), asked for
  on first use, so `labctl plan --target gcp` works without them.
- Entry points run unchanged: a small source package (the entry points + `gcp.launcher`) is
  built here and uploaded to the lab's bucket; the launcher maps Vertex's conventions (FUSE
  paths, `--hp=value` arguments, AIP_MODEL_DIR, hypertune metrics) onto the SageMaker contract.
- Every Google call goes through `_api`/`_result`, the one place API errors become BackendErrors
  with a hint. Waiting polls with an injectable `sleep` and `clock`; teardown is idempotent.

Layout (one concern per module; the mixins are composed into `GcpBackend` in backend.py):
client (ADC, project, clients, calls, waiting), checks, data, training, tuning, serving, batch,
services (BigQuery steps; their requests in bigquery), teardown, messages (request building
blocks), images (regions, containers), package + launcher (the code Vertex jobs run), errors,
health (`labctl doctor` lines), billing (the billing export, for `labctl cost sync`).

Importing this package imports no Google SDK: names are loaded from their module on first use,
so the launcher (run inside Vertex containers) and billing import only what they need.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GcpBackend": "backend",
    "doctor": "health",
    "build_package": "package",
    "machine_spec": "messages",
    "metric_tag": "messages",
    "study_spec": "messages",
    "traffic_percentages": "messages",
    "vertex_name": "messages",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
