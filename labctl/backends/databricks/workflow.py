"""The lab's `pipeline` step on databricks: a multi-task Workflows job (Jobs API 2.2), one task
per step in the lab's order, each depending on the one before, on the lab's schedule; the
backend runs it once and waits, and `labctl down` cancels its runs and deletes it.

Tasks: a delta-live-tables step is a `pipeline_task` of the lab's DLT pipeline; data, train and
feature-store steps are the launcher (`labctl_job.py`) with the arguments their one-time runs
take, on job clusters under the lab's policy; the registry and deploy steps are the launcher's
`promote` (aliases on the newest version, the endpoint moved to it).

Design choice: the job is made with the SDK, not Terraform, so its tasks reuse the backend's
cluster specs and launcher arguments (one place for each) and exist only once their code is
uploaded; it is in the ledger (kind `pipeline`) before it is created.
"""

from __future__ import annotations

import re
from typing import Any

from databricks.sdk.service import jobs

from labctl import naming
from labctl.backends.base import Context
from labctl.backends.databricks.names import _tags, dbx_name, endpoint_name, uc_schema
from labctl.backends.databricks.runs import LAUNCHER, WAIT_MARGIN, _result_state, _run_seconds
from labctl.backends.databricks.training import _entry_files, _generator_files, train_params
from labctl.catalog import DataStep, DeployStep, PipelineStep, ServiceStep, Step, TrainStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Ledger, Resource

WORKFLOW_KINDS = ("data", "train", "service", "deploy")  # what `_workflow_task` makes a task of
TASK_HOURS = 1  # a launcher task that is not training: its timeout
SCHEDULE_TZ = "UTC"


def quartz(cron: str) -> str:
    """A five-field cron expression as the Jobs API's Quartz one (`0 2 * * *` ->
    `0 0 2 * * ?`): seconds first, `?` for the unused day field, Sunday 1 instead of 0."""
    minute, hour, dom, month, dow = cron.split()
    if dow == "*":
        dow = "?"
    else:
        dow = re.sub(r"\d", lambda m: str(int(m.group()) % 7 + 1), dow)
        dom = "?" if dom == "*" else dom
    return f"0 {minute} {hour} {dom} {month} {dow}"


class Workflows:
    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        """Create the Workflows job (ledger row first), run it once, wait for the run."""
        prefix = naming.name_prefix(ctx.run.engineer, ctx.lab_name)
        name = dbx_name(f"{prefix}-{step.name}", 100)
        tasks, code = self._workflow_tasks(step, ctx)
        code_dir = self._upload_code(ctx, step.name, code)
        for task in tasks:
            if task.spark_python_task:
                task.spark_python_task.python_file = f"{code_dir}/{LAUNCHER}"
        res = ctx.ledger.add_resource(ctx.run, kind="pipeline", name=name, region=self.region,
                                      attrs={"step": step.name, "tasks": step.steps,
                                             "schedule": step.schedule})  # fmt: skip
        schedule = None
        if step.schedule:
            schedule = jobs.CronSchedule(quartz_cron_expression=quartz(step.schedule),
                                         timezone_id=SCHEDULE_TZ,
                                         pause_status=jobs.PauseStatus.UNPAUSED)  # fmt: skip
        timeout = sum(t.timeout_seconds or 0 for t in tasks) + WAIT_MARGIN
        with ctx.creating(res):
            created = self._api("create workflow job", self.w.jobs.create, step=step.name,
                                name=name, tasks=tasks, tags=_tags(ctx), schedule=schedule,
                                max_concurrent_runs=1, timeout_seconds=timeout)  # fmt: skip
        job_id = int(created.job_id)
        ctx.ledger.update_resource(res.id, status="created", provider_id=str(job_id),
                                   attrs={"job_id": job_id})  # fmt: skip
        run = self._run_workflow(ctx, step, name, job_id, timeout)
        cron = schedule.quartz_cron_expression if schedule else None
        return {"job_id": job_id, "job": name, "tasks": [t.task_key for t in tasks],
                "schedule": cron, **run}  # fmt: skip

    def _run_workflow(
        self, ctx: Context, step: PipelineStep, name: str, job_id: int, timeout: int
    ) -> dict[str, Any]:
        """One run of the job now (a `pipeline` row with its run, so `down` cancels it first),
        waited on."""
        node = ctx.output("node_type_id")
        price = self._dbu_price(ctx, "jobs-compute", node)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(ctx.run, kind="pipeline", name=f"{name}-run",
                                      region=self.region, instance_type=node, instance_count=1,
                                      **price, attrs={**price_attrs, "step": step.name,
                                                      "job_id": job_id})  # fmt: skip
        with ctx.creating(res):
            waiter = self._api("run workflow job", self.w.jobs.run_now, step=step.name,
                               job_id=job_id, idempotency_token=res.id)  # fmt: skip
        run_id = int(waiter.run_id)
        ctx.ledger.update_resource(res.id, status="PENDING", provider_id=str(run_id),
                                   attrs={"run_id": run_id})  # fmt: skip
        with ctx.reporter.task(f"workflow {name}: run {run_id}") as progress:
            run = self._wait_run(run_id, step.name, timeout, progress)
        state = _result_state(run)
        seconds = _run_seconds(run)
        ctx.ledger.close_resource(res.id, status=state, billable_seconds=seconds)
        if state != "SUCCESS":
            raise BackendError(
                f"step '{step.name}': workflow run {run_id} {state}",
                hint=f"the run's page shows each task: {run.run_page_url or 'Jobs > Job runs'}",
            )
        return {"run_id": run_id, "run_page_url": run.run_page_url, "billable_seconds": seconds}

    def _workflow_tasks(
        self, step: PipelineStep, ctx: Context
    ) -> tuple[list[jobs.Task], tuple[str, ...]]:
        """The job's tasks in the lab's step order (each after the one before), and the code
        files their launcher runs need."""
        tasks: list[jobs.Task] = []
        code: tuple[str, ...] = ()
        for name in step.steps:
            member = ctx.lab.step(name)
            task, files = self._workflow_task(member, ctx)
            if task is None:
                continue
            if tasks:
                task.depends_on = [jobs.TaskDependency(task_key=tasks[-1].task_key)]
            tasks.append(task)
            code += files
        return tasks, code

    def _workflow_task(self, step: Step, ctx: Context) -> tuple[jobs.Task | None, tuple]:
        key = re.sub(r"[^A-Za-z0-9_-]", "_", step.name)[:100]
        hour = TASK_HOURS * 3600
        match step:
            case ServiceStep(service="delta-live-tables"):
                pipeline_id = (ctx.infra.get("dlt_pipeline_ids") or {}).get(step.name)
                if not pipeline_id:
                    raise BackendError(f"step '{step.name}': no DLT pipeline in the outputs")
                task = jobs.PipelineTask(pipeline_id=pipeline_id, full_refresh=False)
                return jobs.Task(task_key=key, pipeline_task=task, timeout_seconds=2 * hour), ()
            case ServiceStep(service="mlflow-tracking"):
                return None, ()  # the experiment exists (Terraform): nothing to run
            case ServiceStep(service="mlflow-model-registry"):
                aliases = step.settings.get("aliases", ["champion"])
                aliases = aliases if isinstance(aliases, list) else [aliases]
                trained = [s.name for s in ctx.lab.steps if isinstance(s, TrainStep)]
                source = str(step.settings.get("model", "")) or trained[-1]
                params = self._promote(ctx, source, aliases=",".join(map(str, aliases)))
                return self._launcher_task(ctx, key, params, hour), ()
            case ServiceStep():
                return self._launcher_task(ctx, key, self._service_params(step, ctx), hour), ()
            case DataStep():
                rows = step.cloud_rows or step.rows
                out = f"{self._data_root(ctx)}/data/{step.name}"
                params = ["data", "--generator", step.generator, "--rows", str(rows), "--seed",
                          str(step.seed), "--validation-fraction", str(step.validation_fraction),
                          "--out", out.replace("dbfs:/", "/dbfs/", 1)]  # fmt: skip
                task = self._launcher_task(ctx, key, params, hour)
                return task, _generator_files(step.generator)
            case TrainStep():
                data = ctx.result(step.name, step.data)
                out = f"{self._data_root(ctx)}/models/{step.name}-workflow"
                params = train_params(step, f"{step.name}-workflow", data["dir"], out)
                workers = step.instance_count if step.algorithm == "spark-mllib" else 0
                timeout = step.max_runtime + WAIT_MARGIN
                env = self._model_env(ctx, step.name)
                task = self._launcher_task(ctx, key, params, timeout, node=step.instance_type,
                                           workers=workers, env=env)  # fmt: skip
                return task, _entry_files(step)
            case DeployStep():
                endpoint = endpoint_name(ctx.run.engineer, ctx.lab_name, step.name)
                params = self._promote(ctx, step.model, endpoint=endpoint)
                return self._launcher_task(ctx, key, params, hour), ()
        raise Unsupported(f"step '{step.name}': a '{step.kind}' step cannot be a workflow task")

    def _promote(self, ctx: Context, model_step: str, *, aliases: str = "", endpoint: str = ""):
        registry = "databricks-uc" if uc_schema(ctx) else "databricks"
        return ["promote", "--model", self._model_name(ctx, model_step), "--registry", registry,
                "--aliases", aliases, "--endpoint", endpoint]  # fmt: skip

    def _launcher_task(
        self, ctx: Context, key: str, params: list[str], timeout: int, *, node: str | None = None,
        workers: int = 0, env: dict[str, str] | None = None,
    ) -> jobs.Task:  # fmt: skip
        """A launcher task on its own job cluster under the lab's policy (on demand)."""
        cluster = self._cluster(ctx, node or ctx.output("node_type_id"), workers, False, env or {})
        python = jobs.SparkPythonTask(python_file=LAUNCHER, parameters=params,
                                      source=jobs.Source.WORKSPACE)  # fmt: skip
        return jobs.Task(task_key=key, new_cluster=cluster, spark_python_task=python,
                         timeout_seconds=timeout)  # fmt: skip

    def _quiesce(self, ledger: Ledger, run_id: str) -> None:
        """Stop what still writes the lab's endpoint, tables and models: the workflow job's
        runs and the DLT pipelines' updates (before those go)."""
        for other in ledger.open_resources(run_id):
            if other.kind == "pipeline":
                self._stop_writer(other)

    def _stop_writer(self, resource: Resource) -> None:
        attrs = resource.attrs or {}
        if attrs.get("job_id"):
            self._api("cancel workflow runs", self.w.jobs.cancel_all_runs, gone_ok=True,
                      job_id=int(attrs["job_id"]))  # fmt: skip
        pipeline_id = attrs.get("pipeline_id")
        if pipeline_id:
            self._stop_pipeline(pipeline_id)
