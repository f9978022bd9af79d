"""Vertex AI Pipelines on gcp: a lab's `pipeline` step compiled, run and scheduled.

The step's steps become the tasks of a KFP v2 PipelineSpec (`labctl.pipelines.vertex`): a
train step is the same CustomJob labctl runs for it (outputs under the run's folder of the
pipeline root), a BigQuery step its SQL, a deploy step a redeploy of the retrained model to the
lab's endpoint. The pipeline runs once now as the lab's service account, and with a `schedule`
a PipelineJobSchedule (cron in UTC) re-runs it until the lab's deadline (its autostop, else the
end of the month). Both are ledger rows of kind `pipeline`, written first; `down` deletes the
schedule and cancels a running pipeline before the endpoints and tables go.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from google.cloud import aiplatform_v1 as aip
from google.protobuf import json_format, struct_pb2

from labctl import cost
from labctl.backends.base import Context
from labctl.backends.gcp import bigquery as gcp_bigquery
from labctl.backends.gcp.images import PREDICTION_IMAGES, SERVED_AS, TRAINING_IMAGES
from labctl.backends.gcp.messages import _labels, vertex_name
from labctl.backends.modules import BIGQUERY
from labctl.catalog import DeployStep, Lab, PipelineStep, ServiceStep, TrainStep
from labctl.ledger import utcnow
from labctl.pipelines.vertex import JOB_UUID, Task, pipeline_name, pipeline_spec, run_order


def deadline(ctx: Context, now: datetime | None = None) -> datetime:
    """When the lab's schedules stop: its autostop, else the end of this month (UTC)."""
    end = ctx.run.autostop_at or cost.month_bounds(now=now or utcnow())[1]
    return end.replace(tzinfo=UTC)


class Pipelines:
    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        """Compile the pipeline, run it once, and schedule it when the step has a schedule."""
        name = pipeline_name(vertex_name(step.name, ctx.run.id))
        root = f"gs://{ctx.output('bucket')}/pipelines/{name}"
        tasks, skipped = self._pipeline_tasks(step, ctx, root)
        spec = pipeline_spec(name, tasks, pipeline_root=root, description=step.description or "")
        (ctx.workspace / f"{step.name}.pipeline.json").write_text(json.dumps(spec, indent=2))
        job = aip.PipelineJob(
            display_name=name,
            pipeline_spec=json_format.ParseDict(spec, struct_pb2.Struct()),
            labels=_labels(ctx),
            runtime_config=aip.PipelineJob.RuntimeConfig(gcs_output_directory=root),
            service_account=ctx.output("service_account_email"),
        )
        tasks_of = [t.name for t in tasks]
        res = self._add(
            ctx,
            "pipeline",
            name,
            with_price=False,
            attrs={"step": step.name, "vertex": "pipeline-job", "tasks": tasks_of},
        )
        with ctx.creating(res):
            created = self._api(
                "pipeline",
                "create_pipeline_job",
                step=step.name,
                request=aip.CreatePipelineJobRequest(
                    parent=self.parent, pipeline_job=job, pipeline_job_id=name
                ),
            )
        ctx.ledger.update_resource(res.id, status=created.state.name, provider_id=created.name)
        result: dict[str, Any] = {
            "pipeline_job": created.name,
            "tasks": tasks_of,
            "spec": str(ctx.workspace / f"{step.name}.pipeline.json"),
            **({"skipped_tasks": skipped} if skipped else {}),
        }
        if step.schedule:
            result |= self._schedule(step, ctx, name, job)
        return result

    def _schedule(
        self, step: PipelineStep, ctx: Context, name: str, job: aip.PipelineJob
    ) -> dict[str, Any]:
        end = deadline(ctx)
        schedule = aip.Schedule(
            display_name=f"{name}-schedule",
            cron=f"TZ=UTC {step.schedule}",
            create_pipeline_job_request=aip.CreatePipelineJobRequest(
                parent=self.parent, pipeline_job=job
            ),
            end_time=end,
            max_concurrent_run_count=1,
        )
        res = self._add(
            ctx,
            "pipeline",
            f"{name}-schedule",
            with_price=False,
            attrs={"step": step.name, "vertex": "schedule", "cron": step.schedule},
        )
        with ctx.creating(res):
            created = self._api(
                "schedule",
                "create_schedule",
                step=step.name,
                request=aip.CreateScheduleRequest(parent=self.parent, schedule=schedule),
            )
        ctx.ledger.update_resource(res.id, status="ACTIVE", provider_id=created.name)
        return {
            "schedule": created.name,
            "cron": f"{step.schedule} (UTC)",
            "schedule_ends": end.isoformat(),
        }

    def _pipeline_tasks(
        self, step: PipelineStep, ctx: Context, root: str
    ) -> tuple[list[Task], dict[str, str]]:
        """The tasks in run order (each after the one before), and the steps left out, why."""
        tasks: list[Task] = []
        skipped: dict[str, str] = {}
        outputs: dict[str, str] = {}  # train step -> its model folder in each run
        labels = _labels(ctx)
        for name, kind, why in task_plan(ctx.lab, step):
            s = ctx.lab.step(name)
            if kind is None:
                skipped[name] = why
                continue
            if isinstance(s, TrainStep):
                output = f"{root}/{JOB_UUID}/{s.name}/"
                outputs[s.name] = f"{output}model/"
                spec = self._job_spec(s, ctx, output=output, hps=s.hyperparameters)
                job = aip.CustomJob(
                    display_name=vertex_name(f"{step.name}-{s.name}", ctx.run.id),
                    job_spec=spec,
                    labels=labels,
                )
                payload = {
                    "parent": self.parent,
                    "region": self.region,
                    "job": json.loads(aip.CustomJob.to_json(job)),
                }
            elif isinstance(s, ServiceStep):
                dataset = f"{self.project}.{ctx.output('bigquery_dataset')}"
                payload = {
                    "project": self.project,
                    "region": self.region,
                    "labels": labels,
                    "sql": [sql for sql, _ in gcp_bigquery.statements(s, dataset, labels)],
                }
            else:
                assert isinstance(s, DeployStep)
                ((variant, ref, machine),) = retrained(s, set(outputs))
                entry = ctx.lab.train_of(ref).entry_point or ""
                high = s.autoscaling.max_instances if s.autoscaling else 1
                payload = {
                    "project": self.project,
                    "region": self.region,
                    "name": vertex_name(f"{s.name}-{variant}-retrained", ctx.run.id),
                    "variant": variant,
                    "artifact": outputs[ref],
                    "image": PREDICTION_IMAGES[SERVED_AS[entry]].format(registry=self.registry),
                    "endpoint": ctx.result(step.name, s.name)["resource"],
                    "machine_type": machine,
                    "min_replicas": s.instance_count,
                    "max_replicas": max(s.instance_count, high),
                    "service_account": ctx.output("service_account_email"),
                    "labels": labels,
                }
            depends = [tasks[-1].name] if tasks else []
            tasks.append(Task(name, kind, payload, depends))
        return tasks, skipped


def retrained(deploy: DeployStep, trained: set[str]) -> list[tuple[str, str, str]]:
    """(variant name, model step, instance type) of the endpoint's models trained in the
    pipeline (a single-model endpoint's variant is named after its deploy step, as deployed)."""
    variants = [(v.name, v.model, v.instance_type or deploy.instance_type) for v in deploy.variants]
    variants = variants or [(deploy.name, deploy.model, deploy.instance_type)]
    return [v for v in variants if v[1] in trained]


def task_plan(lab: Lab, step: PipelineStep) -> list[tuple[str, str | None, str]]:
    """(step, task kind or None, why not) for each step of the pipeline, in run order."""
    trained: set[str] = set()
    plan: list[tuple[str, str | None, str]] = []
    for name in run_order(lab, step):
        s = lab.step(name)
        match s:
            case TrainStep() if s.algorithm != "automl-image" and s.algorithm in TRAINING_IMAGES:
                trained.add(name)
                plan.append((name, "custom-job", ""))
            case ServiceStep() if s.service in BIGQUERY and gcp_bigquery.kind(s) == "load":
                plan.append((name, None, "a load of the data step's files, which do not change"))
            case ServiceStep() if s.service in BIGQUERY:
                plan.append((name, "bigquery", ""))
            case DeployStep() if (
                len(retrained(s, trained)) == 1
                and (lab.train_of(retrained(s, trained)[0][1]).entry_point or "") in SERVED_AS
            ):
                plan.append((name, "redeploy", ""))
            case DeployStep():
                why = "redeploys one model of the endpoint retrained in this pipeline only"
                plan.append((name, None, why))
            case _:
                plan.append((name, None, f"a {s.kind} step is not a Vertex pipeline task yet"))
    return plan
