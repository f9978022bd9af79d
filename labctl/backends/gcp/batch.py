"""Batch prediction on gcp, and the steps labctl does not build on Vertex AI yet."""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1 as aip

from labctl.backends.base import Context
from labctl.backends.gcp.client import (
    JOB_DONE,
    WAIT_MARGIN,
)
from labctl.backends.gcp.messages import (
    _labels,
    _seconds,
    machine_spec,
    vertex_name,
)
from labctl.catalog import (
    BatchStep,
)
from labctl.errors import BackendError
from labctl.ledger import naive_utc


class BatchSteps:
    def batch(self, *, step: BatchStep, ctx: Context) -> dict[str, Any]:
        """Batch prediction over the data step's batch-input (JSON lines of instances)."""
        data = ctx.result(step.name, step.data)
        source = data.get("batch_input")
        if not source:
            raise BackendError(f"step '{step.name}': data step '{step.data}' has no batch input")
        model = self._model_for(ctx, step.name, step.model)
        name = vertex_name(step.name, ctx.run.id)
        output = f"gs://{ctx.output('bucket')}/batch/{name}/"
        job = aip.BatchPredictionJob(
            display_name=name,
            model=model,
            input_config=aip.BatchPredictionJob.InputConfig(
                instances_format="jsonl", gcs_source=aip.GcsSource(uris=[f"{source}*"])
            ),
            output_config=aip.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl",
                gcs_destination=aip.GcsDestination(output_uri_prefix=output),
            ),
            dedicated_resources=aip.BatchDedicatedResources(
                machine_spec=machine_spec(step.instance_type),
                starting_replica_count=step.instance_count,
                max_replica_count=step.instance_count,
            ),
            service_account=ctx.output("service_account_email"),
            labels=_labels(ctx),
        )
        res = self._add(
            ctx,
            "batch-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            attrs={"step": step.name, "model": model, "output": output},
        )
        with ctx.creating(res):
            created = self._api(
                "job",
                "create_batch_prediction_job",
                step=step.name,
                request=aip.CreateBatchPredictionJobRequest(
                    parent=self.parent, batch_prediction_job=job
                ),
            )
        ctx.ledger.update_resource(res.id, status="JOB_STATE_QUEUED", provider_id=created.name)
        with ctx.reporter.task(f"batch {name} ({step.instance_type})") as t:
            final = self._wait(
                f"batch prediction job {name}",
                lambda: self._api(
                    "job", "get_batch_prediction_job", step=step.name, name=created.name
                ),
                done=JOB_DONE,
                timeout=max(3600, 4 * step.expected_runtime) + WAIT_MARGIN,
                task=t,
            )
        state = final.state.name
        ctx.ledger.close_resource(
            res.id,
            status=state,
            billable_seconds=_seconds(final.start_time, final.end_time),
            stopped_at=naive_utc(final.end_time),
        )
        if state != "JOB_STATE_SUCCEEDED":
            raise BackendError(
                f"step '{step.name}': batch prediction {name} {state}: "
                f"{final.error.message or 'no reason given'}"
            )
        stats = final.completion_stats
        return {
            "job": name,
            "resource": created.name,
            "model": model,
            "input": source,
            "output": final.output_info.gcs_output_directory or output,
            "status": state,
            "records": int(stats.successful_count),
            "failed": int(stats.failed_count),
        }
