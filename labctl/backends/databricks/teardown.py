"""Teardown and live status on databricks."""

from __future__ import annotations

from databricks.sdk.service import files

from labctl.backends.databricks.runs import (
    TERMINAL,
    _life_cycle,
)
from labctl.backends.databricks.serving import _endpoint_state
from labctl.errors import BackendError
from labctl.ledger import Ledger, Resource

RUN_KINDS = ("training-job", "tuning-job", "batch-job")
CANCEL_TIMEOUT = 600  # how long teardown waits for a cancelled run before deleting its models


class Teardown:
    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or cancel) one resource; already gone counts as deleted."""
        match resource.kind:
            case "monitoring-schedule":  # a Lakehouse monitor, named by its table
                self._api("delete quality monitor", self.w.quality_monitors.delete,
                          gone_ok=True, table_name=resource.name)  # fmt: skip
            case "endpoint":
                self._quiesce(ledger, resource.run_id)  # the workflow may be updating it
                self._api("delete serving endpoint", self.w.serving_endpoints.delete,
                          gone_ok=True, name=resource.name)  # fmt: skip
            case "training-job" | "tuning-job" | "batch-job":
                self._cancel_run(resource)
            case "pipeline":  # a DLT update or the workflow job; its tables go with the stack
                self._stop_writer(resource)
                attrs = resource.attrs or {}
                if attrs.get("job_id") and not attrs.get("run_id"):  # the job, not one run
                    self._api("delete workflow job", self.w.jobs.delete, gone_ok=True,
                              job_id=int(attrs["job_id"]))  # fmt: skip
            case "model":
                # a run still going may write new versions: cancel (and wait for) those first
                self._quiesce(ledger, resource.run_id)
                for other in ledger.open_resources(resource.run_id):
                    if other.kind in RUN_KINDS:
                        self._cancel_run(other, wait=True)
                if resource.name.count(".") == 2:  # <catalog>.<schema>.<model>: Unity Catalog
                    self._api("delete registered model", self.w.registered_models.delete,
                              gone_ok=True, full_name=resource.name)  # fmt: skip
                else:
                    self._api("delete registered model", self.w.model_registry.delete_model,
                              gone_ok=True, name=resource.name)  # fmt: skip
            case "bucket" if resource.name.startswith("/Volumes/"):
                pass  # a managed volume: dropped with the lab's schema by terraform destroy
            case "bucket":
                # The plain DBFS API (the SDK's mixin stats the path first).
                dbfs = files.DbfsAPI(self.w.api_client)
                self._api("delete data folder", dbfs.delete, gone_ok=True,
                          path=resource.name, recursive=True)  # fmt: skip
            case _:
                pass  # the stack (terraform destroy) and service steps

    def _cancel_run(self, resource: Resource, *, wait: bool = False) -> None:
        """Cancel a job run not yet over; with `wait`, until it is (bounded by CANCEL_TIMEOUT)."""
        run_id = (resource.attrs or {}).get("run_id") or resource.provider_id
        if not run_id:
            return  # never submitted
        run = self._api("get run", self.w.jobs.get_run, gone_ok=True, run_id=int(run_id))
        if run is None or _life_cycle(run) in TERMINAL:
            return
        self._api("cancel run", self.w.jobs.cancel_run, gone_ok=True, run_id=int(run_id))
        deadline = self._clock() + CANCEL_TIMEOUT
        while wait:
            run = self._api("get run", self.w.jobs.get_run, gone_ok=True, run_id=int(run_id))
            if run is None or _life_cycle(run) in TERMINAL:
                return
            if self._clock() >= deadline:
                raise BackendError(
                    f"job run {run_id} ({resource.name}) is still {_life_cycle(run)} "
                    f"{CANCEL_TIMEOUT // 60} minutes after it was cancelled",
                    hint="its models are left in place; `labctl down` again once it ends",
                )
            self._sleep(self.poll_seconds)

    def live_status(self, resource: Resource) -> str:
        try:
            if resource.kind == "endpoint":
                ep = self._api("get endpoint", self.w.serving_endpoints.get, gone_ok=True,
                               name=resource.name)  # fmt: skip
                return "gone" if ep is None else _endpoint_state(ep)[0]
            if resource.kind == "pipeline":
                return self._pipeline_status(resource)
            run_id = (resource.attrs or {}).get("run_id")
            if resource.kind in ("training-job", "tuning-job") and run_id:
                run = self._api("get run", self.w.jobs.get_run, gone_ok=True, run_id=int(run_id))
                return "gone" if run is None else _life_cycle(run)
        except BackendError as exc:
            return f"unknown ({exc.message[:60]})"
        return resource.status
