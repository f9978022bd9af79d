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


class Teardown:
    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or cancel) one resource; already gone counts as deleted."""
        attrs = resource.attrs or {}
        match resource.kind:
            case "endpoint":
                self._api("delete serving endpoint", self.w.serving_endpoints.delete,
                          gone_ok=True, name=resource.name)  # fmt: skip
            case "training-job" | "tuning-job" | "batch-job":
                run_id = attrs.get("run_id") or resource.provider_id
                if not run_id:
                    return  # never submitted
                run = self._api("get run", self.w.jobs.get_run, gone_ok=True, run_id=int(run_id))
                state = _life_cycle(run) if run is not None else "TERMINATED"
                if state not in TERMINAL:
                    self._api("cancel run", self.w.jobs.cancel_run, gone_ok=True,
                              run_id=int(run_id))  # fmt: skip
            case "model":
                self._api("delete registered model", self.w.model_registry.delete_model,
                          gone_ok=True, name=resource.name)  # fmt: skip
            case "bucket":
                # The plain DBFS API (the SDK's mixin stats the path first).
                dbfs = files.DbfsAPI(self.w.api_client)
                self._api("delete data folder", dbfs.delete, gone_ok=True,
                          path=resource.name, recursive=True)  # fmt: skip
            case _:
                pass  # the stack (terraform destroy) and service steps

    def live_status(self, resource: Resource) -> str:
        try:
            if resource.kind == "endpoint":
                ep = self._api("get endpoint", self.w.serving_endpoints.get, gone_ok=True,
                               name=resource.name)  # fmt: skip
                return "gone" if ep is None else _endpoint_state(ep)[0]
            run_id = (resource.attrs or {}).get("run_id")
            if resource.kind in ("training-job", "tuning-job") and run_id:
                run = self._api("get run", self.w.jobs.get_run, gone_ok=True, run_id=int(run_id))
                return "gone" if run is None else _life_cycle(run)
        except BackendError as exc:
            return f"unknown ({exc.message[:60]})"
        return resource.status
