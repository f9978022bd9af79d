"""Data, training and tuning steps on databricks: job runs of the launcher; MLflow models."""

from __future__ import annotations

import json
import re
from typing import Any

from labctl import datagen, entrypoints, naming
from labctl.backends.base import Context
from labctl.backends.databricks.names import _fuse, dbx_name, uc_schema
from labctl.backends.databricks.runs import (
    _PACKAGE_ROOT,
    WAIT_MARGIN,
)
from labctl.catalog import (
    DataStep,
    DeployStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)
from labctl.errors import Unsupported


class Training:
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
            params=train_params(step, f"{step.name}-{ctx.run.id}", data["dir"], out),
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

    def _model_env(self, ctx: Context, step_name: str) -> dict[str, str]:
        """Where the job registers its model: Unity Catalog (the lab's schema) when the workspace
        has it, else the workspace registry under a name of this engineer and lab; either way
        `down` deletes it without touching anyone else's models."""
        return {
            "MLFLOW_REGISTRY_URI": "databricks-uc" if uc_schema(ctx) else "databricks",
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
        schema = uc_schema(ctx)
        if schema:  # <catalog>.<lab schema>.<model>: the schema is the engineer's and lab's
            return f"{schema}.{re.sub(r'[^a-z0-9_]+', '_', base.lower()).strip('_')}"
        return dbx_name(f"{naming.name_prefix(ctx.run.engineer, ctx.lab_name)}-{base}", 100)

    def _model_result(self, ctx: Context, step_name: str, result: dict[str, Any], out: str) -> dict:
        tracking = result.get("tracking") or {}
        registered = tracking.get("registered_model")
        if registered:  # created by the job: in the ledger so that `down` deletes it
            res = ctx.ledger.add_resource(
                ctx.run,
                kind="model",
                name=registered["name"],
                region=self.region,
                provider_id=registered["name"],
                attrs={"step": step_name, "version": registered["version"], **tracking},
            )
            # the version exists already (the run registered it): the row is not `creating`
            ctx.ledger.update_resource(res.id, status="created")
        return {
            "job_run": result["run_id"],
            "run_page_url": result.get("run_page_url"),
            "model_dir": out,
            "metrics": result.get("metrics", {}),
            "billable_seconds": result.get("billable_seconds"),
            **({"tracking": tracking} if tracking else {}),
        }


def train_params(step: TrainStep, job: str, data_dir: str, out: str) -> list[str]:
    """The launcher's `train` arguments (a one-time run, or a task of the lab's workflow)."""
    return ["train", "--entry-point", str(step.entry_point), "--job", job, "--data", data_dir,
            "--out", _fuse(out), "--hps", json.dumps(step.hyperparameters)]  # fmt: skip


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
