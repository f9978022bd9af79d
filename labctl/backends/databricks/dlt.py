"""Delta Live Tables on databricks: an update of the lab's pipeline (made by Terraform from
labctl/pipelines/dlt_features.py), its expectations and tables from the pipeline's event log."""

from __future__ import annotations

import contextlib
from typing import Any

from labctl.backends.base import Context
from labctl.backends.databricks import lab_inputs
from labctl.catalog import ServiceStep
from labctl.errors import BackendError
from labctl.ledger import Resource

UPDATE_DONE = ("COMPLETED", "FAILED", "CANCELED")
UPDATE_TIMEOUT = 3600 * 2
SERVERLESS = "serverless"  # the ledger's instance_type of a serverless pipeline


def dlt_usage(step: ServiceStep) -> str:
    """The price catalog's usage of the step's pipeline: `dlt-core|pro|advanced`."""
    return f"dlt-{lab_inputs.edition(step).lower()}"


class DeltaLiveTables:
    def _dlt(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """Start an update of the step's pipeline (ledger row first) and, when triggered, wait
        for it; a continuous pipeline stays up (a `pipeline` row) until `labctl down` stops it."""
        pipeline_id = (ctx.infra.get("dlt_pipeline_ids") or {}).get(step.name)
        if not pipeline_id:
            raise BackendError(
                f"step '{step.name}': the lab's module made no Delta Live Tables pipeline for it",
                hint="`labctl down` then `labctl up` re-applies the lab's module",
            )
        serverless = bool(ctx.infra.get("uc_catalog"))
        node = SERVERLESS if serverless else ctx.output("node_type_id")
        workers = 0 if serverless else 1
        price = self._dbu_price(ctx, dlt_usage(step), node)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="pipeline",
            name=f"{step.name}-{ctx.run.id}",
            region=self.region,
            instance_type=node,
            instance_count=workers + 1,
            **price,
            attrs={**price_attrs, "step": step.name, "pipeline_id": pipeline_id,
                   "edition": lab_inputs.edition(step), "serverless": serverless},
        )  # fmt: skip
        with ctx.creating(res):
            started = self._api(
                "start pipeline update",
                self.w.pipelines.start_update,
                step=step.name,
                pipeline_id=pipeline_id,
                full_refresh=True,
            )
        update_id = started.update_id
        ctx.ledger.update_resource(
            res.id, status="QUEUED", provider_id=pipeline_id, attrs={"update_id": update_id}
        )
        continuous = str(step.settings.get("mode", "triggered")) == "continuous"
        with ctx.reporter.task(f"pipeline {step.name}: update {update_id}") as progress:
            try:
                state, seconds = self._wait_update(
                    pipeline_id, update_id, step.name, progress, until_running=continuous
                )
            except KeyboardInterrupt:
                with contextlib.suppress(BackendError):
                    self._stop_pipeline(pipeline_id)
                ctx.ledger.close_resource(res.id, status="CANCELED")
                raise
        if state in UPDATE_DONE:
            ctx.ledger.close_resource(res.id, status=state, billable_seconds=seconds)
        else:
            ctx.ledger.update_resource(res.id, status=state)
        if state in ("FAILED", "CANCELED"):
            raise BackendError(
                f"step '{step.name}': pipeline update {update_id} {state}",
                hint="the pipeline's page (Delta Live Tables) shows its event log",
            )
        quality = self._pipeline_quality(pipeline_id, update_id)
        schema = ctx.infra.get("uc_schema") or ""
        target = schema if serverless else f"{schema}_{step.settings.get('target_schema', 'dlt')}"
        return {
            "pipeline": pipeline_id,
            "update": update_id,
            "state": state,
            "mode": "continuous" if continuous else "triggered",
            "schema": target,
            "tables": quality["tables"],
            "expectations": {"dropped": quality["dropped"]},
            "metrics": {
                **{f"rows:{t}": n for t, n in quality["tables"].items()},
                **{f"dropped:{e}": n for e, n in quality["dropped"].items()},
            },
            "billable_seconds": seconds,
        }

    def _wait_update(
        self, pipeline_id: str, update_id: str, step_name: str, task: Any, *, until_running: bool
    ) -> tuple[str, float | None]:
        """Poll the update until it ends (or, continuous, runs): (state, seconds it took, as the
        backend's clock measured from its start; None while it runs)."""
        started = self._clock()
        deadline = started + UPDATE_TIMEOUT
        shown = None
        while True:
            got = self._api("get pipeline update", self.w.pipelines.get_update, step=step_name,
                            pipeline_id=pipeline_id, update_id=update_id)  # fmt: skip
            info = got.update
            state = info.state.value if info and info.state else "QUEUED"
            if state != shown:
                task.advance(0, description=f"pipeline update {update_id}: {state}")
                shown = state
            if state in UPDATE_DONE or (until_running and state == "RUNNING"):
                return state, (self._clock() - started if state in UPDATE_DONE else None)
            if self._clock() >= deadline:
                raise BackendError(
                    f"step '{step_name}': pipeline update {update_id} is still {state} after "
                    f"{UPDATE_TIMEOUT / 3600:.0f} hours",
                    hint="it keeps running on Databricks; `labctl down` stops it",
                )
            self._sleep(self.poll_seconds)

    def _pipeline_quality(self, pipeline_id: str, update_id: str) -> dict[str, Any]:
        """Rows written per table and rows dropped per expectation, from the update's
        `flow_progress` events (the SDK's PipelineEvent has no `details`: raw REST)."""
        body = self._api(
            "read the pipeline event log",
            self.w.api_client.do,
            method="GET",
            path=f"/api/2.0/pipelines/{pipeline_id}/events",
            query={"filter": f"event_type = 'flow_progress' AND origin.update_id = '{update_id}'",
                   "max_results": 250},
        )  # fmt: skip
        tables: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for event in (body or {}).get("events", []):
            flow = (event.get("details") or {}).get("flow_progress") or {}
            table = ((event.get("origin") or {}).get("flow_name") or "").rsplit(".", 1)[-1]
            rows = (flow.get("metrics") or {}).get("num_output_rows")
            if table and rows is not None:
                tables[table] = tables.get(table, 0) + int(rows)
            for exp in (flow.get("data_quality") or {}).get("expectations") or []:
                name = exp.get("name")
                if name:
                    dropped[name] = dropped.get(name, 0) + int(exp.get("failed_records") or 0)
        return {"tables": tables, "dropped": dropped}

    def _stop_pipeline(self, pipeline_id: str) -> None:
        """Cancel the pipeline's active update (none: nothing to do); already gone is fine."""
        self._api("stop pipeline", self.w.api_client.do, gone_ok=True, method="POST",
                  path=f"/api/2.0/pipelines/{pipeline_id}/stop")  # fmt: skip

    def _pipeline_status(self, resource: Resource) -> str:
        attrs = resource.attrs or {}
        if not attrs.get("update_id"):
            return resource.status
        got = self._api("get pipeline update", self.w.pipelines.get_update, gone_ok=True,
                        pipeline_id=attrs["pipeline_id"], update_id=attrs["update_id"])  # fmt: skip
        if got is None or got.update is None:
            return "gone"
        return got.update.state.value if got.update.state else "unknown"
