"""A lab's `pipeline` step as a SageMaker Pipeline: created (in the ledger first), not run.

The pipeline retrains what the lab's listed steps built, from what is already in the lab's bucket:
- a data step is not a pipeline step: its channels in the bucket are the training input;
- a train step becomes a Training step with the same job definition (training.py `_job_spec`);
- a tune step becomes a Training step of its train step with the best hyperparameters the tuning
  job found (retraining, not re-tuning: a pipeline run costs one job);
- a deploy step becomes a Model step over the new artifact (moving the endpoint to it needs a
  Lambda step: the result says so).
A `schedule` is not created (it would need an EventBridge rule and role): the result says so.
Run it with `aws sagemaker start-pipeline-execution --pipeline-name <name>`.
"""

from __future__ import annotations

import json
from typing import Any

from labctl.backends.aws import images, scriptmode
from labctl.backends.aws.api import AwsApi, sm_name, tags
from labctl.backends.base import Context, hp_strings
from labctl.catalog import DataStep, DeployStep, PipelineStep, TrainStep, TuneStep
from labctl.errors import BackendError

DEFINITION_VERSION = "2020-12-01"


class PipelinesMixin(AwsApi):
    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        """Create the SageMaker Pipeline of the step's listed steps (not started)."""
        steps: list[dict[str, Any]] = []
        notes: list[str] = []
        trained: str | None = None  # the pipeline step whose artifact a Model step takes
        for name in step.steps:
            listed = ctx.lab.step(name)
            match listed:
                case DataStep():
                    notes.append(f"{name}: its channels in the lab bucket are the input")
                case TrainStep():
                    steps.append(self._training(step, listed, ctx, name, {}))
                    trained = steps[-1]["Name"]
                case TuneStep():
                    best = ctx.result(step.name, name).get("best_hyperparameters") or {}
                    train = ctx.lab.step(listed.train)
                    assert isinstance(train, TrainStep)
                    steps.append(self._training(step, train, ctx, name, best))
                    trained = steps[-1]["Name"]
                    notes.append(f"{name}: retrains {train.name} with the best hyperparameters")
                case DeployStep() if trained is not None:
                    steps.append(self._model_step(listed, ctx, name, trained))
                    notes.append(
                        f"{name}: a Model of the new artifact; the endpoint moves to it by hand "
                        "(or a Lambda step)"
                    )
                case _:
                    notes.append(f"{name}: not a pipeline step ({listed.kind})")
        if not steps:
            raise BackendError(f"step '{step.name}': none of {step.steps} is a training step")
        if step.schedule:
            notes.append(f"schedule '{step.schedule}' not created: start it on that schedule")
        name = sm_name(step.name, ctx.run.id)
        definition = {"Version": DEFINITION_VERSION, "Metadata": {}, "Parameters": [],
                      "Steps": steps}  # fmt: skip
        res = self._add(ctx, "pipeline", name, with_price=False,
                        attrs={"step": step.name, "steps": [s["Name"] for s in steps]})  # fmt: skip
        self._create(
            ctx, res, "create_pipeline", status="created", arn_key="PipelineArn",
            step=step.name, PipelineName=name, PipelineDefinition=json.dumps(definition),
            PipelineDescription=f"labctl {ctx.lab_name} {step.name}",
            RoleArn=ctx.output("role_arn"), Tags=tags(ctx),
        )  # fmt: skip
        return {"pipeline": name, "steps": [s["Name"] for s in steps], "notes": notes}

    def _training(
        self, step: PipelineStep, train: TrainStep, ctx: Context, name: str, best: dict[str, str]
    ) -> dict[str, Any]:
        """A Training step: the train step's job definition, its hyperparameters (`best` over
        them), writing under `models/<pipeline step>/`."""
        result = ctx.results.get(train.name, {})
        source = {k: result[k] for k in ("source_dir", "program") if k in result} or None
        if scriptmode.is_script_mode(train.algorithm) and source is None:
            raise BackendError(
                f"step '{step.name}': {train.name} must have run first (its script's source)"
            )
        spec = self._job_spec(  # type: ignore[attr-defined]
            train, ctx, output=f"models/{step.name}/", checkpoints=None, source=source
        )
        if source:
            hps = scriptmode.hyperparameters(train, source, self.region)
        else:
            hps = hp_strings(train.hyperparameters)
        return {"Name": name, "Type": "Training",
                "Arguments": {**spec, "HyperParameters": {**hps, **best}}}  # fmt: skip

    def _model_step(
        self, deploy: DeployStep, ctx: Context, name: str, trained: str
    ) -> dict[str, Any]:
        """A Model step (CreateModel) over the artifact of pipeline step `trained`."""
        algorithm = ctx.lab.train_of(deploy.model).algorithm
        container: dict[str, Any] = {
            "ModelDataUrl": {"Get": f"Steps.{trained}.ModelArtifacts.S3ModelArtifacts"}
        }
        if scriptmode.is_script_mode(algorithm):
            container["Image"] = scriptmode.inference_image(
                algorithm, self.region, deploy.instance_type
            )
        else:
            container["Image"] = images.image_uri(algorithm, self.region)
        return {
            "Name": name,
            "Type": "Model",
            "Arguments": {"ExecutionRoleArn": ctx.output("role_arn"),
                          "PrimaryContainer": container},
        }  # fmt: skip
