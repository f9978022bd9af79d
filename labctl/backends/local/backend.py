"""LocalBackend: what the local target can do, its data and service steps, status, teardown.

Training, tuning and endpoints live in their own modules (training.py, tuning.py, serving.py);
this class puts them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labctl.backends.base import Context, Finding
from labctl.backends.local.base import bucket
from labctl.backends.local.processes import live_status, terminate
from labctl.backends.local.services import SPARK_EXTRA, analogue, has_module, skip_reason
from labctl.backends.local.serving import Endpoints
from labctl.backends.local.training import entry
from labctl.backends.local.tuning import Tuning
from labctl.catalog import (
    BatchStep,
    DataStep,
    DeployStep,
    Lab,
    PipelineStep,
    ServiceStep,
    TrainStep,
)
from labctl.entrypoints._torch import INSTALL as TORCH_INSTALL
from labctl.ledger import Ledger, Resource
from labctl.pipelines import BEAM_EXTRA


class LocalBackend(Tuning, Endpoints):
    """The embedded local target: every step on this machine, for $0."""

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        from labctl import datagen  # numpy: only for the commands that run steps

        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(
                        Finding(
                            step.name, f"no local generator '{step.generator}' for this dataset yet"
                        )
                    )
                case TrainStep() if step.algorithm == "spark-mllib" and not has_module("pyspark"):
                    findings.append(Finding(step.name, f"needs Apache Spark: {SPARK_EXTRA}"))
                case TrainStep() if step.algorithm == "huggingface" and not all(
                    map(has_module, ("torch", "transformers"))
                ):
                    findings.append(
                        Finding(step.name, f"needs PyTorch and transformers: {TORCH_INSTALL}")
                    )
                case ServiceStep() if step.service.startswith("mlflow") and not has_module(
                    "mlflow"
                ):
                    findings.append(
                        Finding(step.name, f"needs MLflow: {SPARK_EXTRA}", fatal=not step.optional)
                    )
                case ServiceStep() if step.service == "dataflow" and not has_module("apache_beam"):
                    findings.append(
                        Finding(
                            step.name,
                            f"runs its Beam pipeline with Apache Beam: {BEAM_EXTRA}"
                            + ("; skipped" if step.optional else ""),
                            fatal=not step.optional,
                        )
                    )
                case TrainStep() if entry(step) is None:
                    what = f"script '{step.entry_point}'" if step.entry_point else step.algorithm
                    findings.append(Finding(step.name, f"no local stand-in for {what}"))
                case ServiceStep() if skip_reason(step.service):
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.service}' is skipped locally: {skip_reason(step.service)}",
                            fatal=False,
                        )
                    )
                case ServiceStep() if analogue(step.service) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.service}' is a cloud service; the local target skips it",
                            fatal=not step.optional,
                        )
                    )
                case PipelineStep() if lab.cloud != "gcp":
                    findings.append(
                        Finding(
                            step.name,
                            "runs its steps once; scheduled pipelines are cloud-only",
                            fatal=False,
                        )
                    )
                case PipelineStep() if step.schedule:
                    findings.append(
                        Finding(
                            step.name,
                            "runs once now, its steps in order; the schedule is cloud-only",
                            fatal=False,
                        )
                    )
                case DeployStep() if len(step.variants) > 1:
                    findings.append(
                        Finding(
                            step.name,
                            "serves the heaviest variant only; traffic splitting is cloud-only",
                            fatal=False,
                        )
                    )
        return findings

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        return {"bucket_root": str(ctx_workspace / "bucket")}

    # --- steps (train, tune, deploy, batch, monitor: see the mixins) ------------------------

    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        from labctl import datagen

        rows = ctx.rows or step.rows
        out = bucket(ctx) / "data" / step.name
        with ctx.reporter.task(f"data {step.name}: {rows:,} rows of {step.generator}"):
            schema = datagen.generate(
                step.generator,
                rows=rows,
                seed=step.seed,
                out_dir=out,
                validation_fraction=step.validation_fraction,
            )
        return {"dir": str(out), "rows": rows, "schema": schema}

    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        """One run of a Vertex AI pipeline (gcp labs): its steps again, in the order the cloud
        pipeline runs them (labctl.pipelines.vertex.run_order). Training runs as a new job
        beside the one the endpoint serves; the endpoint itself keeps serving (redeploying is
        the cloud pipeline's task), and data steps are not regenerated."""
        from labctl.pipelines.vertex import run_order

        if ctx.lab.cloud != "gcp":  # the other clouds' pipelines are not re-run locally yet
            return {"skipped": "pipelines are scheduled on cloud targets", "steps": step.steps}
        runs: dict[str, Any] = {}
        for name in run_order(ctx.lab, step):
            task = ctx.lab.step(name)
            match task:
                case TrainStep():
                    job = self._run_job(
                        ctx, task, f"{name}-{ctx.run.id}-{step.name}", dict(task.hyperparameters)
                    )
                    runs[name] = {"job": job.name, "metrics": job.metrics}
                case ServiceStep() | BatchStep():
                    result = self.run_step(task, ctx)
                    runs[name] = {k: v for k, v in result.items() if not isinstance(v, dict)}
                case _:
                    runs[name] = {"skipped": f"a {task.kind} step is not re-run locally"}
        return {
            "run": "one run, its steps as ordered local runs",
            "order": list(runs),
            "runs": runs,
            **({"schedule": f"{step.schedule} (on cloud targets)"} if step.schedule else {}),
        }

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        run = analogue(step.service)
        if reason := skip_reason(step.service):
            return {"skipped": f"'{step.service}' is skipped locally: {reason}"}
        if run is None:
            return {"skipped": f"'{step.service}' is a cloud service"}
        with ctx.reporter.task(f"service {step.name}: {step.service}, local analogue"):
            return run(step=step, ctx=ctx)

    # --- teardown, status ---------------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        token = (resource.attrs or {}).get("token") or resource.provider_id
        pid = (resource.attrs or {}).get("pid")
        if token:
            terminate(pid, token)

    def live_status(self, resource: Resource) -> str:
        return live_status(resource)
