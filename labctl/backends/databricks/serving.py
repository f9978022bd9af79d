"""Model Serving on databricks: endpoints over registered model versions, queries."""

from __future__ import annotations

import json
import re
from typing import Any

from databricks.sdk.service import serving

from labctl.backends.base import Context
from labctl.backends.databricks.names import _tags, endpoint_name, uc_schema
from labctl.catalog import DeployStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Resource

ENDPOINT_TIMEOUT = 3600
SERVING_SIZES = {"small": "Small", "medium": "Medium", "large": "Large"}
SIZE_CONCURRENCY = {"small": 4, "medium": 16, "large": 64}  # the top of each size's range


class Serving:
    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        """A serving endpoint over the model's registered version, scale-to-zero on."""
        model_step = (
            max(step.variants, key=lambda v: v.weight).model if step.variants else step.model
        )
        registered = (ctx.result(step.name, model_step).get("tracking") or {}).get(
            "registered_model"
        )
        if not registered:
            raise BackendError(
                f"step '{step.name}': step '{model_step}' registered no model version to serve",
                hint="its entry point registers the model when MLflow tracking is on",
            )
        name = endpoint_name(ctx.run.engineer, ctx.lab_name, step.name)
        size = step.instance_type.lower().removeprefix("cpu-")
        if size not in SERVING_SIZES:
            raise Unsupported(
                f"step '{step.name}': instance_type '{step.instance_type}' is not a Model Serving "
                f"size (cpu-small, cpu-medium, cpu-large)"
            )
        entity = serving.ServedEntityInput(
            entity_name=registered["name"],
            entity_version=str(registered["version"]),
            workload_size=SERVING_SIZES[size],
            scale_to_zero_enabled=True,
        )
        if step.autoscaling:  # instances as provisioned concurrency: the size's top per instance
            per = SIZE_CONCURRENCY[size]
            entity.workload_size = None  # the API takes one or the other
            entity.min_provisioned_concurrency = step.autoscaling.min_instances * per
            entity.max_provisioned_concurrency = step.autoscaling.max_instances * per
            entity.scale_to_zero_enabled = step.autoscaling.min_instances == 0
        price = self._dbu_price(ctx, "model-serving", step.instance_type)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="endpoint",
            name=name,
            region=self.region,
            instance_type=step.instance_type,
            instance_count=max(1, step.autoscaling.min_instances if step.autoscaling else 1),
            **price,
            attrs={
                **price_attrs,
                "step": step.name,
                "model": registered,
                "scale_to_zero": entity.scale_to_zero_enabled,
                "content_type": "text/csv",
            },
        )
        config = serving.EndpointCoreConfigInput(name=name, served_entities=[entity])
        schema = uc_schema(ctx)
        if step.data_capture_percent and schema:  # inference tables in the lab's schema
            catalog, schema_name = schema.split(".", 1)
            config.auto_capture_config = serving.AutoCaptureConfigInput(
                catalog_name=catalog,
                schema_name=schema_name,
                table_name_prefix=re.sub(r"[^a-z0-9_]+", "_", step.name.lower()),
                enabled=True,
            )
        with ctx.creating(res):
            self._api(
                "create serving endpoint",
                self.w.serving_endpoints.create,
                step=step.name,
                name=name,
                config=config,
                tags=[serving.EndpointTag(key=k, value=v) for k, v in _tags(ctx).items()],
            )
        ctx.ledger.update_resource(res.id, status="Creating", provider_id=name)
        with ctx.reporter.task(
            f"deploy {name} ({registered['name']} v{registered['version']})"
        ) as task:
            status = self._wait_endpoint(name, step.name, task)
        ctx.ledger.update_resource(res.id, status=status)
        return {
            "endpoint": name,
            "model": registered,
            "workload_size": SERVING_SIZES[size],
            "scale_to_zero": bool(entity.scale_to_zero_enabled),
            "concurrency": [entity.min_provisioned_concurrency, entity.max_provisioned_concurrency],
            "status": status,
        }

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        """Send CSV or JSON rows to the endpoint as `instances`; answer {"predictions": [...]}."""
        from labctl.entrypoints import contract

        try:
            rows = contract.parse_rows(body, content_type).tolist()
        except ValueError as exc:
            raise BackendError(f"cannot send these records: {exc}") from None
        answer = self._api("query endpoint", self.w.serving_endpoints.query,
                           name=resource.name, instances=rows)  # fmt: skip
        return json.dumps({"predictions": answer.predictions}).encode()

    # --- serving and registry -----------------------------------------------------------------

    def _wait_endpoint(self, name: str, step_name: str, task: Any) -> str:
        deadline = self._clock() + ENDPOINT_TIMEOUT
        while True:
            ep = self._api("get serving endpoint", self.w.serving_endpoints.get, step=step_name,
                           name=name)  # fmt: skip
            status, done = _endpoint_state(ep)
            task.advance(0, description=f"endpoint {name}: {status}")
            if status == "UPDATE_FAILED":
                raise BackendError(
                    f"step '{step_name}': serving endpoint {name} failed to deploy",
                    hint=f"the Serving page shows the build logs of {name}",
                )
            if done:
                return status
            if self._clock() >= deadline:
                raise BackendError(
                    f"step '{step_name}': serving endpoint {name} not ready after "
                    f"{ENDPOINT_TIMEOUT / 60:.0f} minutes",
                    hint="`labctl status` shows it; `labctl down` deletes it",
                )
            self._sleep(self.poll_seconds)


def _endpoint_state(ep: serving.ServingEndpointDetailed) -> tuple[str, bool]:
    """(status shown, ready) of a serving endpoint."""
    ready = ep.state.ready.value if ep.state and ep.state.ready else "NOT_READY"
    update = ep.state.config_update.value if ep.state and ep.state.config_update else None
    if update in ("UPDATE_FAILED", "UPDATE_CANCELED"):
        return "UPDATE_FAILED", False
    if ready == "READY" and update != "IN_PROGRESS":
        return "READY", True
    return update or ready, False
