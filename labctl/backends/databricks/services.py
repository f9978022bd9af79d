"""Service steps on databricks: MLflow tracking and registry, Delta Live Tables (dlt.py),
services run as job tasks."""

from __future__ import annotations

import json
from typing import Any

from labctl.backends.base import Context
from labctl.backends.databricks.names import _fuse, uc_schema
from labctl.catalog import ServiceStep
from labctl.errors import BackendError, Unsupported

SERVICES_AS_JOBS = ("feature-store",)


class Services:
    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        if step.service == "mlflow-tracking":
            return {
                "experiment": ctx.output("experiment_name"),
                "experiment_id": ctx.output("experiment_id"),
                "note": "created by Terraform; every job of the lab tracks to it",
            }
        if step.service == "mlflow-model-registry":
            return self._register_aliases(step, ctx)
        if step.service == "delta-live-tables":
            return self._dlt(step, ctx)
        if step.service in SERVICES_AS_JOBS:
            result = self._single_node_job(
                ctx,
                step.name,
                params=self._service_params(step, ctx),
                what=f"service {step.name}: {step.service} as a job task",
            )
            monitors = self._monitor_tables(step, ctx, result.get("tables") or {})
            return {**result, "monitors": monitors} if monitors else result
        if not step.optional:
            raise Unsupported(
                f"step '{step.name}': '{step.service}' is not provisioned on databricks"
            )
        ctx.reporter.warn(f"step '{step.name}': '{step.service}' is not provisioned; skipped")
        return {"skipped": f"'{step.service}' is not provisioned by labctl on databricks yet"}

    def _service_params(self, step: ServiceStep, ctx: Context) -> list[str]:
        """The launcher's `service` arguments: the data step's folder, the lab's data root, the
        DLT pipeline's silver table when there is one, the Unity Catalog schema when there is."""
        data = next(
            (r for r in ctx.results.values() if isinstance(r, dict) and r.get("dbfs_uri")),
            None,
        )
        if data is None:
            raise BackendError(f"step '{step.name}' needs the lab's data step first")
        silver = next(
            (f"{r['schema']}.silver_transactions" for r in ctx.results.values()
             if isinstance(r, dict) and r.get("pipeline") and r.get("schema")),
            "",
        )  # fmt: skip
        settings = {"name": step.name, "settings": step.settings, "lab": ctx.lab_name}
        return ["service", "--service", step.service, "--step-json", json.dumps(settings),
                "--data", data["dir"], "--out", _fuse(self._data_root(ctx)),
                "--silver-table", silver, "--schema", uc_schema(ctx) or ""]  # fmt: skip

    def _register_aliases(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        tracked = [
            (n, r["tracking"]) for n, r in ctx.results.items()
            if isinstance(r, dict) and (r.get("tracking") or {}).get("registered_model")
        ]  # fmt: skip
        if not tracked:
            raise BackendError(
                f"step '{step.name}': no earlier step registered a model version",
                hint="the lab's train step registers its model when this step follows it",
            )
        source, tracking = tracked[-1]
        model = tracking["registered_model"]
        aliases = step.settings.get("aliases", ["champion"])
        for alias in aliases if isinstance(aliases, list) else [aliases]:
            if uc_schema(ctx):  # a Unity Catalog model: its alias through the catalog's API
                self._api(
                    "set model alias",
                    self.w.registered_models.set_alias,
                    step=step.name,
                    full_name=model["name"],
                    alias=str(alias),
                    version_num=int(model["version"]),
                )
                continue
            self._api(
                "set model alias",
                self.w.api_client.do,
                step=step.name,
                method="POST",
                path="/api/2.0/mlflow/registered-models/alias",
                body={"name": model["name"], "alias": str(alias), "version": str(model["version"])},
            )
        return {"model_name": model["name"], "version": model["version"],
                "aliases": aliases, "source_step": source, "tracking": tracking}  # fmt: skip
