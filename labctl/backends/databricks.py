"""The `databricks` target: the lab's steps as one-time job runs and Model Serving endpoints.

Terraform (terraform/modules/databricks) makes the lab's cluster policy (auto-termination, the
labctl-* custom tags, node types and worker caps), its workspace folder and MLflow experiment.
This module, on databricks-sdk, uploads the lab's code (entry points, the training contract, the
data generator, the launcher `databricks_job.py`) to `<folder>/code` and runs each step as a
`jobs/runs/submit` one-time run on a job cluster under the policy:

- data: the seeded generator on a single-node cluster, Parquet to `dbfs:/labctl/<eng>/<lab>/`;
- train: the lab's entry point (same file as on the local target) under the training contract,
  Spark MLlib on a multi-node cluster for `algorithm: spark-mllib`, single node otherwise; MLflow
  tracks to the lab's experiment and registers the model a later step serves or registers;
- tune: Optuna on the driver, trials fanned out as Spark tasks, `max_parallel_jobs` at a time;
- deploy: a serving endpoint (scale-to-zero on) over the registered model version;
- delta-live-tables / feature-store: the local feature pipeline as a job task (Parquet tables).

Every billable resource (job run, endpoint) is in the ledger before it is created, priced at
launch (DBU rate x DBUs of the node + its VM; both parts in attrs). Teardown deletes endpoints,
cancels runs still going, deletes registered models and the data folder; `terraform destroy`
removes the policy, folder (with the code) and experiment.

Design choices:
- databricks-sdk is imported here only; the client uses unified authentication (a profile from
  `[databricks] profile`, else DATABRICKS_* environment, ~/.databrickscfg DEFAULT, OAuth...).
- Every SDK call goes through `_api`, the one place SDK errors become `BackendError`s with hints.
- Waiting polls with an injected `sleep` and `clock`; an interrupt cancels the run being waited on.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dbx_errors
from databricks.sdk.core import Config
from databricks.sdk.service import compute, files, jobs, serving
from databricks.sdk.service.workspace import ImportFormat

from labctl import config, datagen, entrypoints, naming
from labctl.backends.base import Backend, Context, Finding
from labctl.backends.modules import DatabricksModule
from labctl.catalog import (
    DataStep,
    DeployStep,
    Lab,
    PipelineStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Ledger, Resource
from labctl.prices import DEFAULT_REGION

POLL_SECONDS = 20.0
WAIT_MARGIN = 1800  # cluster start and teardown beyond a step's own runtime
ENDPOINT_TIMEOUT = 3600
DATA_ROOT = "dbfs:/labctl"
LAUNCHER = "labctl_job.py"
RESULT = "#labctl-result "
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
SERVICES_AS_JOBS = ("delta-live-tables", "feature-store")
SERVING_SIZES = {"small": "Small", "medium": "Medium", "large": "Large"}
CREDENTIALS_HINT = (
    "configure Databricks unified auth: `databricks auth login --host <workspace-url>` (OAuth) "
    "or DATABRICKS_HOST + DATABRICKS_TOKEN, or `[databricks] profile` in the labctl config; "
    "then run `labctl doctor`"
)
CODE_FILES = (
    "labctl/__init__.py",
    "labctl/errors.py",
    "labctl/entrypoints/__init__.py",
    "labctl/entrypoints/contract.py",
    "labctl/entrypoints/_tracking.py",
    "labctl/datagen/__init__.py",
    "labctl/analogues/__init__.py",
    "labctl/analogues/databricks.py",
)


_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the labctl package


def _module_sleep(seconds: float) -> None:
    time.sleep(seconds)


class DatabricksBackend(DatabricksModule, Backend):
    name = "databricks"

    def __init__(
        self,
        *,
        client: WorkspaceClient | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._w = client
        self._uploaded: set[str] = set()  # workspace paths written by this labctl process
        self._sleep = sleep or _module_sleep
        self._clock = clock or time.monotonic
        self.poll_seconds = poll_seconds
        self.region = DEFAULT_REGION["databricks"]  # the price catalog's region for DBU rates

    @property
    def w(self) -> WorkspaceClient:
        """The workspace client, made on first use from unified authentication."""
        if self._w is None:
            profile = config.settings().databricks.profile
            try:
                self._w = WorkspaceClient(profile=profile) if profile else WorkspaceClient()
            except ValueError as exc:  # the SDK's "cannot configure default credentials"
                raise BackendError(
                    f"no usable Databricks credentials: {_first_line(exc)}", hint=CREDENTIALS_HINT
                ) from None
        return self._w

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep() if not step.entry_point or _entry(step) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.algorithm}' needs an `entry_point` script labctl ships "
                            "(script mode) to run on Databricks",
                        )
                    )
                case ServiceStep() if step.service in SERVICES_AS_JOBS:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.service}' runs as a job task writing Parquet tables (not a "
                            "managed DLT pipeline / Unity Catalog feature tables yet)",
                            fatal=False,
                        )
                    )
                case ServiceStep() if step.service not in (
                    "mlflow-tracking",
                    "mlflow-model-registry",
                ):
                    findings.append(
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on databricks yet",
                            fatal=not step.optional,
                        )
                    )
                case PipelineStep():
                    findings.append(
                        Finding(
                            step.name, "the Workflows job is not created yet; steps run once", False
                        )
                    )
                case DeployStep() if step.data_capture_percent:
                    findings.append(
                        Finding(
                            step.name,
                            "inference tables (data capture) need Unity Catalog; not enabled",
                            fatal=False,
                        )
                    )
        return findings

    # --- steps ------------------------------------------------------------------------------

    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        """Generate the dataset on a single-node job cluster into the lab's DBFS folder."""
        rows = ctx.rows or step.cloud_rows or step.rows
        root = self._data_root(ctx)
        out = f"{root}/data/{step.name}"
        result = self._single_node_job(
            ctx,
            step.name,
            params=[
                "data",
                "--generator",
                step.generator,
                "--rows",
                str(rows),
                "--seed",
                str(step.seed),
                "--validation-fraction",
                str(step.validation_fraction),
                "--out",
                _fuse(out),
            ],
            what=f"data {step.name}: {rows:,} rows of {step.generator}",
            code=_generator_files(step.generator),
        )
        return {
            "dbfs_uri": out,
            "dir": _fuse(out),
            "rows": rows,
            "schema": result.get("schema", {}),
            "job_run": result["run_id"],
        }

    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        """The entry point on a job cluster under the policy; MLflow tracks, maybe registers."""
        data = ctx.result(step.name, step.data)
        out = f"{self._data_root(ctx)}/models/{step.name}-{ctx.run.id}"
        workers = step.instance_count if step.algorithm == "spark-mllib" else 0
        result = self._job(
            ctx,
            step.name,
            kind="training-job",
            node_type=step.instance_type,
            workers=workers,
            spot=step.spot,
            timeout=(step.max_wait or step.max_runtime) + WAIT_MARGIN,
            params=[
                "train",
                "--entry-point",
                str(step.entry_point),
                "--job",
                f"{step.name}-{ctx.run.id}",
                "--data",
                data["dir"],
                "--out",
                _fuse(out),
                "--hps",
                json.dumps(step.hyperparameters),
            ],
            what=f"train {step.name} ({step.entry_point}, {step.instance_type} x{workers + 1})",
            code=_entry_files(step),
            env=self._model_env(ctx, step.name),
        )
        return self._model_result(ctx, step.name, result, out)

    def tune(self, *, step: TuneStep, ctx: Context) -> dict[str, Any]:
        """Optuna on the driver, trials as Spark tasks across `max_parallel_jobs` workers."""
        train = ctx.lab.step(step.train)
        assert isinstance(train, TrainStep)
        data = ctx.result(step.name, train.data)
        n_jobs = ctx.max_jobs or step.max_jobs
        parallel = min(step.max_parallel_jobs, n_jobs)
        out = f"{self._data_root(ctx)}/models/{step.name}-{ctx.run.id}"
        spec = {
            "objective": step.objective.name,
            "goal": step.objective.goal,
            "strategy": step.strategy,
            "max_jobs": n_jobs,
            "parallelism": parallel,
            "ranges": {k: r.model_dump() for k, r in step.ranges.items()},
        }
        static = {k: v for k, v in train.hyperparameters.items() if k not in step.ranges}
        result = self._job(
            ctx,
            step.name,
            kind="tuning-job",
            node_type=train.instance_type,
            workers=parallel,
            spot=train.spot,
            timeout=-(-n_jobs // parallel) * train.max_runtime + WAIT_MARGIN,
            params=[
                "tune",
                "--entry-point",
                str(train.entry_point),
                "--job",
                f"{step.name}-{ctx.run.id}",
                "--data",
                data["dir"],
                "--out",
                _fuse(out),
                "--hps",
                json.dumps(static),
                "--spec",
                json.dumps(spec),
            ],
            what=f"tune {step.name}: {step.strategy}, {n_jobs} trials, {parallel} at a time",
            code=_entry_files(train),
            env=self._model_env(ctx, step.name),
            attrs={"strategy": step.strategy, "max_jobs": n_jobs, "parallelism": parallel},
        )
        return {
            **self._model_result(ctx, step.name, result, out),
            "best_hyperparameters": result.get("best_hyperparameters", {}),
            "trials": result.get("trials"),
        }

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
        name = dbx_name(f"{naming.name_prefix(ctx.run.engineer, ctx.lab_name)}-{step.name}")
        size = step.instance_type.lower().removeprefix("cpu-")
        if size not in SERVING_SIZES:
            raise Unsupported(
                f"step '{step.name}': instance_type '{step.instance_type}' is not a Model Serving "
                f"size (cpu-small, cpu-medium, cpu-large)"
            )
        price = self._dbu_price(ctx, "model-serving", step.instance_type)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="endpoint",
            name=name,
            region=self.region,
            instance_type=step.instance_type,
            instance_count=1,
            **price,
            attrs={
                **price_attrs,
                "step": step.name,
                "model": registered,
                "scale_to_zero": True,
                "content_type": "text/csv",
            },
        )
        entity = serving.ServedEntityInput(
            entity_name=registered["name"],
            entity_version=str(registered["version"]),
            workload_size=SERVING_SIZES[size],
            scale_to_zero_enabled=True,
        )
        with ctx.creating(res):
            self._api(
                "create serving endpoint",
                self.w.serving_endpoints.create,
                step=step.name,
                name=name,
                config=serving.EndpointCoreConfigInput(name=name, served_entities=[entity]),
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
            "scale_to_zero": True,
            "status": status,
        }

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        if step.service == "mlflow-tracking":
            return {
                "experiment": ctx.output("experiment_name"),
                "experiment_id": ctx.output("experiment_id"),
                "note": "created by Terraform; every job of the lab tracks to it",
            }
        if step.service == "mlflow-model-registry":
            return self._register_aliases(step, ctx)
        if step.service in SERVICES_AS_JOBS:
            data = next(
                (r for r in ctx.results.values() if isinstance(r, dict) and r.get("dbfs_uri")),
                None,
            )
            if data is None:
                raise BackendError(f"step '{step.name}' needs the lab's data step first")
            root = self._data_root(ctx)
            return self._single_node_job(
                ctx,
                step.name,
                params=[
                    "service",
                    "--service",
                    step.service,
                    "--step-json",
                    json.dumps({"name": step.name, "settings": step.settings, "lab": ctx.lab_name}),
                    "--data",
                    data["dir"],
                    "--out",
                    _fuse(root),
                ],
                what=f"service {step.name}: {step.service} as a job task",
            )
        if not step.optional:
            raise Unsupported(
                f"step '{step.name}': '{step.service}' is not provisioned on databricks"
            )
        ctx.reporter.warn(f"step '{step.name}': '{step.service}' is not provisioned; skipped")
        return {"skipped": f"'{step.service}' is not provisioned by labctl on databricks yet"}

    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        return {"skipped": "the Databricks Workflows job is not created by labctl yet; its steps "
                "ran once in this lab", "steps": step.steps}  # fmt: skip

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

    # --- jobs ---------------------------------------------------------------------------------

    def _job(
        self,
        ctx: Context,
        step_name: str,
        *,
        kind: str,
        node_type: str,
        workers: int,
        spot: bool,
        timeout: int,
        params: list[str],
        what: str,
        code: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Upload the code, record, submit, wait for one run; its `#labctl-result` as a dict."""
        code_dir = self._upload_code(ctx, step_name, code)
        run_name = f"{step_name}-{ctx.run.id}"
        price = self._dbu_price(ctx, "jobs-compute", node_type)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(
            ctx.run,
            kind=kind,
            name=run_name,
            region=self.region,
            instance_type=node_type,
            instance_count=workers + 1,
            spot=spot,
            **price,
            attrs={**price_attrs, "step": step_name, "workers": workers, **(attrs or {})},
        )
        cluster = self._cluster(ctx, node_type, workers, spot, env or {})
        task = jobs.SubmitTask(
            task_key="main",
            new_cluster=cluster,
            spark_python_task=jobs.SparkPythonTask(
                python_file=f"{code_dir}/{LAUNCHER}",
                parameters=params,
                source=jobs.Source.WORKSPACE,
            ),
            timeout_seconds=timeout,
        )
        with ctx.creating(res):
            waiter = self._api(
                "submit run",
                self.w.jobs.submit,
                step=step_name,
                run_name=run_name,
                tasks=[task],
                timeout_seconds=timeout,
                idempotency_token=res.id,
            )
        run_id = int(waiter.run_id)
        ctx.ledger.update_resource(
            res.id, status="PENDING", provider_id=str(run_id), attrs={"run_id": run_id}
        )
        with ctx.reporter.task(what) as progress:
            try:
                run = self._wait_run(run_id, step_name, timeout, progress)
            except KeyboardInterrupt:
                with contextlib.suppress(BackendError):
                    self._api("cancel run", self.w.jobs.cancel_run, gone_ok=True, run_id=run_id)
                ctx.ledger.close_resource(res.id, status="CANCELED")
                raise
        state = _result_state(run)
        seconds = (
            (run.end_time - run.start_time) / 1000 if run.end_time and run.start_time else None
        )
        output = self._run_output(run)
        result = _parse_result(output)
        ctx.ledger.update_resource(
            res.id,
            attrs={"run_page_url": run.run_page_url, **_tracked_attrs(result)},
        )
        ctx.ledger.close_resource(res.id, status=state, billable_seconds=seconds)
        if state != "SUCCESS":
            message = (run.state.state_message if run.state else "") or "no message"
            raise BackendError(
                f"step '{step_name}': job run {run_id} {state}: {message}",
                hint=f"the run's page shows its logs: {run.run_page_url or 'Jobs > Job runs'}",
            )
        return {**result, "run_id": run_id, "run_page_url": run.run_page_url,
                "billable_seconds": seconds}  # fmt: skip

    def _cluster(
        self, ctx: Context, node_type: str, workers: int, spot: bool, env: dict[str, str]
    ) -> compute.ClusterSpec:
        """A job cluster under the lab's policy; tags and auto-termination come from it too."""
        tags = _tags(ctx)
        spark_conf: dict[str, str] = {}
        if workers == 0:
            spark_conf = {
                "spark.databricks.cluster.profile": "singleNode",
                "spark.master": "local[*]",
            }
            tags["ResourceClass"] = "SingleNode"
        spark_env = {
            "MLFLOW_EXPERIMENT_ID": ctx.output("experiment_id"),
            "LABCTL_RUN_ID": ctx.run.id,
            **env,
        }
        spec = compute.ClusterSpec(
            spark_version=ctx.output("spark_version"),
            node_type_id=node_type,
            driver_node_type_id=node_type,
            num_workers=workers,
            policy_id=ctx.output("cluster_policy_id"),
            apply_policy_default_values=True,
            custom_tags=tags,
            spark_conf=spark_conf or None,
            spark_env_vars=spark_env,
        )
        if config.settings().databricks.cloud == "aws":
            spec.aws_attributes = compute.AwsAttributes(
                availability=(
                    compute.AwsAvailability.SPOT_WITH_FALLBACK
                    if spot
                    else compute.AwsAvailability.ON_DEMAND
                ),
                first_on_demand=1,  # the driver stays on demand
            )
        return spec

    def _wait_run(self, run_id: int, step_name: str, timeout: float, task: Any) -> jobs.Run:
        deadline = self._clock() + timeout
        shown = None
        while True:
            run = self._api("get run", self.w.jobs.get_run, step=step_name, run_id=run_id)
            state = _life_cycle(run)
            if state != shown:
                task.advance(0, description=f"job run {run_id}: {state}")
                shown = state
            if state in TERMINAL:
                return run
            if self._clock() >= deadline:
                raise BackendError(
                    f"step '{step_name}': job run {run_id} is still {state} after "
                    f"{timeout / 60:.0f} minutes",
                    hint="it keeps running on Databricks; `labctl down` cancels it",
                )
            self._sleep(self.poll_seconds)

    def _run_output(self, run: jobs.Run) -> str:
        """The stdout of the run's task (where the launcher prints its result)."""
        task_run = (run.tasks or [None])[0]
        run_id = task_run.run_id if task_run and task_run.run_id else run.run_id
        out = self._api("get run output", self.w.jobs.get_run_output, gone_ok=True, run_id=run_id)
        if out is None:
            return ""
        return (out.logs or "") + ("\n" + out.error if out.error else "")

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

    def _model_env(self, ctx: Context, step_name: str) -> dict[str, str]:
        """Where the job registers its model: a name of this engineer and lab (workspace registry),
        so `down` can delete it without touching anyone else's models."""
        return {
            "MLFLOW_REGISTRY_URI": "databricks",
            "LABCTL_MODEL_NAME": self._model_name(ctx, step_name),
        }

    def _model_name(self, ctx: Context, step_name: str) -> str:
        """`<prefix>-<registry step's model_name>` for the model a registry step or a deploy step
        takes, `<prefix>-<step>` otherwise."""
        registry = next(
            (s for s in ctx.lab.steps
             if isinstance(s, ServiceStep) and s.service == "mlflow-model-registry"),
            None,
        )  # fmt: skip
        served = {
            m for s in ctx.lab.steps if isinstance(s, DeployStep)
            for m in (s.model, *(v.model for v in s.variants))
        }  # fmt: skip
        base = step_name
        if registry is not None and (step_name in served or not served):
            base = str(registry.settings.get("model_name", step_name))
        return dbx_name(f"{naming.name_prefix(ctx.run.engineer, ctx.lab_name)}-{base}", 100)

    def _model_result(self, ctx: Context, step_name: str, result: dict[str, Any], out: str) -> dict:
        tracking = result.get("tracking") or {}
        registered = tracking.get("registered_model")
        if registered:  # created by the job: in the ledger so that `down` deletes it
            ctx.ledger.add_resource(
                ctx.run,
                kind="model",
                name=registered["name"],
                region=self.region,
                provider_id=registered["name"],
                attrs={"step": step_name, "version": registered["version"], **tracking},
            )
        return {
            "job_run": result["run_id"],
            "run_page_url": result.get("run_page_url"),
            "model_dir": out,
            "metrics": result.get("metrics", {}),
            "billable_seconds": result.get("billable_seconds"),
            **({"tracking": tracking} if tracking else {}),
        }

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

    # --- plumbing -----------------------------------------------------------------------------

    def _data_root(self, ctx: Context) -> str:
        """The lab's DBFS folder, in the ledger (so `down` deletes it) before first use."""
        root = f"{DATA_ROOT}/{naming.label_value(ctx.run.engineer)}/{ctx.lab_name}"
        if not any(r.kind == "bucket" for r in ctx.ledger.open_resources(ctx.run.id)):
            res = ctx.ledger.add_resource(ctx.run, kind="bucket", name=root, region=self.region)
            ctx.ledger.update_resource(res.id, status="created", provider_id=root)
        return root

    def _upload_code(self, ctx: Context, step_name: str, extra: tuple[str, ...]) -> str:
        """The launcher and the step's modules into `<workspace folder>/code` (overwritten)."""
        code_dir = f"{ctx.output('workspace_folder')}/code"
        root = _PACKAGE_ROOT
        files = {LAUNCHER: root / "labctl" / "backends" / "databricks_job.py"}
        files |= {rel: root / rel for rel in (*CODE_FILES, *extra)}
        files = {
            rel: src for rel, src in files.items() if f"{code_dir}/{rel}" not in self._uploaded
        }
        for folder in sorted({str(Path(code_dir, rel).parent) for rel in files}):
            self._api("create workspace folder", self.w.workspace.mkdirs, step=step_name,
                      path=folder)  # fmt: skip
        for rel, source in files.items():
            self._api(
                "upload code",
                self.w.workspace.upload,
                step=step_name,
                path=f"{code_dir}/{rel}",
                content=source.read_bytes(),
                format=ImportFormat.AUTO,
                overwrite=True,
            )
            self._uploaded.add(f"{code_dir}/{rel}")
        return code_dir

    def _single_node_job(
        self, ctx: Context, step_name: str, *, params: list[str], what: str, **job: Any
    ) -> dict[str, Any]:
        """A one-hour-at-most run on one on-demand node of the workspace's default node type
        (data generation, services run as jobs)."""
        return self._job(
            ctx,
            step_name,
            kind="training-job",
            node_type=ctx.output("node_type_id"),
            workers=0,
            spot=False,
            timeout=3600 + WAIT_MARGIN,
            params=params,
            what=what,
            **job,
        )

    def _dbu_price(self, ctx: Context, usage: str, instance_type: str) -> dict[str, Any]:
        """Ledger fields of one node's price at launch: DBUs x the workload's rate + the VM
        (serverless serving has no VM); the sum is `price_per_hour`, the parts go in attrs."""
        price = ctx.prices.lookup(
            cloud="databricks", usage=usage, instance_type=instance_type, region=self.region
        )
        if price is None:
            return {"attrs": {}}
        vm = ctx.prices.lookup(
            cloud="databricks", usage="vm", instance_type=instance_type, region=self.region
        )
        vm_usd = vm.usd_per_hour if vm is not None and usage != "model-serving" else 0.0
        return {
            "price_per_hour": price.usd_per_hour,
            "price_source": str(price.source)[:200],
            "attrs": {
                "dbu_usd_per_hour": round(price.usd_per_hour - vm_usd, 6),
                "vm_usd_per_hour": vm_usd,
                "price_detail": price.detail,
            },
        }

    def _api(
        self,
        what: str,
        call: Callable[..., Any],
        *,
        step: str | None = None,
        gone_ok: bool = False,
        **params: Any,
    ) -> Any:
        """One SDK call; the one place its errors become `BackendError`s (None: gone, if ok)."""
        where = f"step '{step}': " if step else ""
        try:
            return call(**params)
        except (dbx_errors.NotFound, dbx_errors.ResourceDoesNotExist) as exc:
            if gone_ok:
                return None
            raise BackendError(f"{where}{what} failed: {_first_line(exc)}") from None
        except dbx_errors.DatabricksError as exc:
            raise databricks_error(exc, what=what, where=where) from None
        except ValueError as exc:  # unified auth found nothing usable
            raise BackendError(
                f"{where}no usable Databricks credentials: {_first_line(exc)}",
                hint=CREDENTIALS_HINT,
            ) from None
        except OSError as exc:  # requests' ConnectionError and friends
            raise BackendError(
                f"{where}{what} failed: cannot reach the workspace ({_first_line(exc)})",
                hint="check DATABRICKS_HOST / the profile's host and the network, then "
                "`labctl doctor`",
            ) from None


# --- errors -------------------------------------------------------------------------------------


def databricks_error(exc: Exception, *, what: str, where: str = "") -> BackendError:
    """An SDK error as a BackendError: what failed, the error code, a hint."""
    code = getattr(exc, "error_code", None) or type(exc).__name__
    message = f"{where}{what} failed with {code}: {_first_line(exc)}"
    hint: str | None = None
    if isinstance(exc, dbx_errors.Unauthenticated):
        hint = CREDENTIALS_HINT
    elif isinstance(exc, dbx_errors.PermissionDenied):
        hint = (
            "your Databricks identity lacks a permission for this (CAN_USE on the lab's cluster "
            "policy, cluster creation, Model Serving): ask a workspace admin"
        )
    elif isinstance(exc, dbx_errors.ResourceExhausted | dbx_errors.TooManyRequests):
        hint = "a workspace quota or rate limit: wait, or ask for a higher limit"
    elif isinstance(exc, dbx_errors.InvalidParameterValue | dbx_errors.BadRequest):
        hint = "the request was refused as sent; the lab's policy may forbid these settings"
    elif isinstance(exc, dbx_errors.ResourceAlreadyExists):
        hint = "it already exists: `labctl status` shows what is up"
    return BackendError(message, hint=hint)


# --- doctor ---------------------------------------------------------------------------------------


def doctor(client: WorkspaceClient | None = None) -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for Databricks: unified auth, the workspace and who we are there."""
    lines: list[tuple[str, bool, str]] = []
    try:
        if client is None:
            profile = config.settings().databricks.profile
            # doctor answers fast: short HTTP and retry timeouts
            client = WorkspaceClient(
                config=Config(profile=profile, http_timeout_seconds=15, retry_timeout_seconds=30)
            )
    except ValueError as exc:
        return [("credentials", False, f"{_first_line(exc)}: {CREDENTIALS_HINT}")]
    lines.append(("credentials", True, f"{client.config.auth_type} for {client.config.host}"))
    try:
        me = client.current_user.me()
        lines.append(("workspace", True, f"{client.config.host} as {me.user_name}"))
    except dbx_errors.DatabricksError as exc:
        err = databricks_error(exc, what="who am I")
        lines.append(("workspace", False, f"{err.message}: {err.hint or CREDENTIALS_HINT}"))
    except OSError as exc:
        lines.append(("workspace", False, f"cannot reach {client.config.host}: {_first_line(exc)}"))
    return lines


# --- helpers ------------------------------------------------------------------------------------


def dbx_name(text: str, limit: int = 63) -> str:
    """A name valid for serving endpoints and registered models: [A-Za-z0-9_-], <= limit."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"
    return name[:limit].rstrip("-")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _tags(ctx: Context) -> dict[str, str]:
    return naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)


def _fuse(uri: str) -> str:
    """`dbfs:/x` as the driver's FUSE path `/dbfs/x` (what pandas and the launcher open)."""
    return "/dbfs/" + uri.removeprefix("dbfs:/") if uri.startswith("dbfs:/") else uri


def _entry(step: TrainStep) -> entrypoints.EntryPoint | None:
    return entrypoints.resolve(step.algorithm, step.entry_point)


def _entry_files(step: TrainStep) -> tuple[str, ...]:
    """The entry point's module and the sibling entry points it imports."""
    entry = _entry(step)
    if entry is None:
        raise Unsupported(f"step '{step.name}': no entry point '{step.entry_point}'")
    module = entry.module.rsplit(".", 1)[1]
    text = (_PACKAGE_ROOT / "labctl" / "entrypoints" / f"{module}.py").read_text()
    siblings = set(re.findall(r"from labctl\.entrypoints\.(\w+) import", text))
    return tuple(f"labctl/entrypoints/{m}.py" for m in sorted({module, *siblings}))


def _generator_files(generator: str) -> tuple[str, ...]:
    module = datagen.MODULES[generator].rsplit(".", 1)[1]
    return (f"labctl/datagen/{module}.py",)


def _life_cycle(run: jobs.Run) -> str:
    state = run.state.life_cycle_state if run.state else None
    return state.value if state is not None else "PENDING"


def _result_state(run: jobs.Run) -> str:
    state = run.state.result_state if run.state else None
    return state.value if state is not None else _life_cycle(run)


def _endpoint_state(ep: serving.ServingEndpointDetailed) -> tuple[str, bool]:
    """(status shown, ready) of a serving endpoint."""
    ready = ep.state.ready.value if ep.state and ep.state.ready else "NOT_READY"
    update = ep.state.config_update.value if ep.state and ep.state.config_update else None
    if update in ("UPDATE_FAILED", "UPDATE_CANCELED"):
        return "UPDATE_FAILED", False
    if ready == "READY" and update != "IN_PROGRESS":
        return "READY", True
    return update or ready, False


def _parse_result(output: str) -> dict[str, Any]:
    """The launcher's `#labctl-result` line (the last one) from the run's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    return {}


def _tracked_attrs(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("metrics", "tracking") if result.get(k)}
