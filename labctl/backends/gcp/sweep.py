"""`labctl sweep` on gcp: Vertex AI resources carrying the labctl labels, and their deletion.

Endpoints, models, and custom / hyperparameter tuning / batch prediction jobs and training
pipelines not yet over are listed in the configured project and region with the label filter
`labels.labctl-engineer:*` (or `="<engineer's value>"`); deletion is the gcp teardown's own
(endpoints undeploy their models first; jobs are cancelled).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import aiplatform_v1 as aip

from labctl.backends.gcp.backend import GcpBackend
from labctl.backends.gcp.client import JOB_DONE, PIPELINE_DONE
from labctl.backends.gcp.errors import _error
from labctl.sweep import ENGINEER_TAG, DetachedLedger, Stray

# kind -> (client, list method, request type); the order is the teardown order
LISTINGS: tuple[tuple[str, str, str, Any], ...] = (
    ("endpoint", "endpoint", "list_endpoints", aip.ListEndpointsRequest),
    ("model", "model", "list_models", aip.ListModelsRequest),
    ("tuning-job", "job", "list_hyperparameter_tuning_jobs",
     aip.ListHyperparameterTuningJobsRequest),
    ("training-job", "job", "list_custom_jobs", aip.ListCustomJobsRequest),
    ("training-job", "pipeline", "list_training_pipelines", aip.ListTrainingPipelinesRequest),
    ("batch-job", "job", "list_batch_prediction_jobs", aip.ListBatchPredictionJobsRequest),
)  # fmt: skip
ENDED = (*JOB_DONE, *PIPELINE_DONE)


def label_filter(engineer_tag: str | None) -> str:
    """Vertex AI's list filter for resources labelled by labctl (for one engineer's value)."""
    return f'labels.{ENGINEER_TAG}="{engineer_tag}"' if engineer_tag else f"labels.{ENGINEER_TAG}:*"


def discover(backend: GcpBackend, engineer_tag: str | None) -> list[Stray]:
    """Labelled Vertex AI resources that can still bill, in the backend's project and region."""
    found: list[Stray] = []
    for kind, service, method, request_type in LISTINGS:
        request = request_type(parent=backend.parent, filter=label_filter(engineer_tag))
        for item in _all(backend, service, method, request):
            labels = dict(item.labels)
            if ENGINEER_TAG not in labels or engineer_tag not in (None, labels[ENGINEER_TAG]):
                continue  # the server filtered already; a fake or a future API may not
            state = item.state.name if "state" in type(item).meta.fields else "exists"
            if state in ENDED:
                continue
            stray = Stray("gcp", kind, item.display_name or item.name, item.name,
                          backend.region, labels, state)  # fmt: skip
            if service == "pipeline":
                stray.attrs["vertex"] = "training-pipeline"
            stray.instances = _instances(kind, item)
            found.append(stray)
    return found


def delete(backend: GcpBackend, stray: Stray, ledger: DetachedLedger) -> None:
    """Delete (or cancel) one stray through the gcp teardown; already gone counts as deleted."""
    backend.teardown(stray.as_resource(), ledger)  # type: ignore[arg-type]


# --- internals ----------------------------------------------------------------------------------


def _all(backend: GcpBackend, service: str, method: str, request: Any) -> list[Any]:
    """Every item of a listing, all pages (a later page's error is a BackendError too)."""
    pager = backend._api(service, method, request=request)
    try:
        return list(pager)
    except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
        raise _error(exc, method, None) from None


def instance_type(spec: aip.MachineSpec) -> str:
    """A MachineSpec as the price catalog names it: `n1-standard-8[+NVIDIA_TESLA_T4x1]`."""
    if spec.accelerator_count:
        return f"{spec.machine_type}+{spec.accelerator_type.name}x{spec.accelerator_count}"
    return spec.machine_type


def _pools(specs: Iterable[Any], times: int = 1) -> list[tuple[str, int]]:
    return [
        (instance_type(p.machine_spec), p.replica_count * times)
        for p in specs
        if p.machine_spec.machine_type
    ]


def _instances(kind: str, item: Any) -> list[tuple[str, int]]:
    """What bills per hour: deployed replicas, job worker pools, batch replicas."""
    match item:
        case aip.Endpoint():
            return [
                (instance_type(d.dedicated_resources.machine_spec),
                 d.dedicated_resources.min_replica_count or 1)
                for d in item.deployed_models
                if d.dedicated_resources.machine_spec.machine_type
            ]  # fmt: skip
        case aip.CustomJob():
            return _pools(item.job_spec.worker_pool_specs)
        case aip.HyperparameterTuningJob():
            return _pools(item.trial_job_spec.worker_pool_specs, item.parallel_trial_count or 1)
        case aip.BatchPredictionJob() if item.dedicated_resources.machine_spec.machine_type:
            res = item.dedicated_resources
            return [(instance_type(res.machine_spec), res.starting_replica_count or 1)]
    return []
