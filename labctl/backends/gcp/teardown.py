"""Teardown and live status on gcp: delete or cancel what the ledger lists."""

from __future__ import annotations

from google.cloud import aiplatform_v1 as aip

from labctl.backends.gcp.client import (
    DEPLOY_TIMEOUT,
    JOB_DONE,
    PIPELINE_DONE,
)
from labctl.errors import LabctlError
from labctl.ledger import Ledger, Resource


class Teardown:
    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or cancel) one resource; one already gone counts as deleted."""
        name = resource.provider_id
        attrs = resource.attrs or {}
        if not name or resource.kind == "stack":
            return
        match resource.kind:
            case "endpoint":
                self._undeploy_all(name)
                op = self._api("endpoint", "delete_endpoint", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting endpoint {resource.name}", None, gone_ok=True)
            case "model":
                op = self._api("model", "delete_model", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting model {resource.name}", None, gone_ok=True)
            case "training-job" if attrs.get("vertex") == "training-pipeline":
                self._cancel("pipeline", "training_pipeline", name, PIPELINE_DONE)
            case "training-job":
                self._cancel("job", "custom_job", name, JOB_DONE)
            case "tuning-job":
                self._cancel("job", "hyperparameter_tuning_job", name, JOB_DONE)
            case "batch-job":
                self._cancel("job", "batch_prediction_job", name, JOB_DONE)
            case "monitoring-schedule":
                self._delete_monitoring(resource)
            case "pipeline" if attrs.get("vertex") == "schedule":
                op = self._api("schedule", "delete_schedule", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting schedule {resource.name}", None, gone_ok=True)
            case "pipeline":
                self._cancel("pipeline", "pipeline_job", name, PIPELINE_DONE)
            case "service" if attrs.get("vertex") == "dataflow-job":
                self._cancel_dataflow(resource)
            case "service" if attrs.get("vertex") == "dataset":
                op = self._api("dataset", "delete_dataset", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting dataset {resource.name}", None, gone_ok=True)
            case _:
                pass  # BigQuery jobs are finished; their tables go with the dataset (terraform)

    def _undeploy_all(self, endpoint: str) -> None:
        """Undeploy every model of an endpoint, moving traffic off each before it goes."""
        found = self._api("endpoint", "get_endpoint", gone_ok=True, name=endpoint)
        if found is None:
            return
        ids = [d.id for d in found.deployed_models]
        for i, deployed_id in enumerate(ids):
            rest = ids[i + 1 :]
            traffic = {rest[0]: 100, **{d: 0 for d in rest[1:]}} if rest else {}
            op = self._api(
                "endpoint",
                "undeploy_model",
                gone_ok=True,
                request=aip.UndeployModelRequest(
                    endpoint=endpoint, deployed_model_id=deployed_id, traffic_split=traffic
                ),
            )
            if op is not None:
                self._result(
                    op, f"undeploying {deployed_id}", None, gone_ok=True, timeout=DEPLOY_TIMEOUT
                )

    def _cancel(self, service: str, what: str, name: str, done: tuple[str, ...]) -> None:
        found = self._api(service, f"get_{what}", gone_ok=True, name=name)
        if found is not None and found.state.name not in done:
            self._api(service, f"cancel_{what}", gone_ok=True, name=name)

    def live_status(self, resource: Resource) -> str:
        getters = {
            "endpoint": ("endpoint", "get_endpoint"),
            "model": ("model", "get_model"),
            "tuning-job": ("job", "get_hyperparameter_tuning_job"),
            "batch-job": ("job", "get_batch_prediction_job"),
        }
        if resource.kind == "pipeline":
            schedule = (resource.attrs or {}).get("vertex") == "schedule"
            getters["pipeline"] = (
                ("schedule", "get_schedule") if schedule else ("pipeline", "get_pipeline_job")
            )
        if resource.kind == "training-job":
            vertex = (resource.attrs or {}).get("vertex")
            getters["training-job"] = (
                ("pipeline", "get_training_pipeline")
                if vertex == "training-pipeline"
                else ("job", "get_custom_job")
            )
        if (resource.attrs or {}).get("vertex") == "dataflow-job" and resource.provider_id:
            try:
                return self._dataflow_state(resource)
            except LabctlError as exc:
                return f"unknown ({exc.message[:60]})"
        if resource.kind not in getters or not resource.provider_id:
            return resource.status
        try:
            found = self._api(*getters[resource.kind], gone_ok=True, name=resource.provider_id)
        except LabctlError as exc:
            return f"unknown ({exc.message[:60]})"
        if found is None:
            return "gone"
        if resource.kind == "endpoint":
            return f"{len(found.deployed_models)} model(s) deployed"
        return found.state.name if hasattr(found, "state") else "exists"
