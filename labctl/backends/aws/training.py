"""Training jobs: managed spot with checkpoints, waited for, billed by SageMaker's billable time."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from labctl import entrypoints
from labctl.backends.aws import images, scriptmode, secure
from labctl.backends.aws.algorithms import ALGORITHMS, resumes, spot_wait
from labctl.backends.aws.api import WAIT_MARGIN, AwsApi, sm_name, tags
from labctl.backends.base import Context, hp_strings
from labctl.catalog import TrainStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Resource, naive_utc


class TrainingMixin(AwsApi):
    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        """One training job (managed spot by default), waited for, billed by its billable time."""
        name = sm_name(step.name, ctx.run.id)
        source = self._script_source(step, ctx, name)
        spec = self._job_spec(
            step, ctx, output="models/", checkpoints=f"checkpoints/{name}/", source=source
        )
        if source:
            hps = scriptmode.hyperparameters(step, source, self.region)
        else:
            hps = hp_strings(step.hyperparameters)
        res = self._add(
            ctx,
            "training-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            spot=spec["EnableManagedSpotTraining"],
            attrs={
                "step": step.name,
                "algorithm": step.algorithm,
                "hyperparameters": hps,
                **(source or {}),
            },
        )
        self._create(
            ctx,
            res,
            "create_training_job",
            status="InProgress",
            arn_key="TrainingJobArn",
            step=step.name,
            TrainingJobName=name,
            HyperParameters=hps,
            Tags=tags(ctx),
            **spec,
        )
        timeout = spec["StoppingCondition"].get(
            "MaxWaitTimeInSeconds", spec["StoppingCondition"]["MaxRuntimeInSeconds"]
        )
        with ctx.reporter.task(f"train {name} ({step.algorithm}, {step.instance_type})") as task:
            desc = self._wait(
                f"training job {name}",
                lambda: self._api(
                    "sagemaker", "describe_training_job", step=step.name, TrainingJobName=name
                ),
                "TrainingJobStatus",
                done=("Completed", "Failed", "Stopped"),
                timeout=timeout + WAIT_MARGIN,
                task=task,
                detail="SecondaryStatus",
            )
        result = self._finish_training(ctx, step.name, res, desc)
        signed = secure.sign(self, ctx, step.name, result["model_artifact"])
        return {**result, **(source or {}), **signed}

    def _script_source(self, step: TrainStep, ctx: Context, job: str) -> dict[str, str] | None:
        """Script mode: pack the entry point's source folder and upload it to the lab's bucket
        (`code/<job>/sourcedir.tar.gz`); None for a built-in algorithm."""
        if not scriptmode.is_script_mode(step.algorithm):
            return None
        scriptmode.validate(step, self.region)  # before anything is uploaded
        name = scriptmode.program(step)
        assert step.entry_point is not None
        if name not in scriptmode.source_files(step.entry_point):
            ctx.reporter.warn(
                f"step '{step.name}': labctl.entrypoints.{step.entry_point} does not exist yet; "
                "its source folder is uploaded without it"
            )
        bucket = ctx.output("bucket")
        key = f"code/{job}/{scriptmode.SOURCE_TAR}"
        with tempfile.TemporaryDirectory() as tmp:
            tar = Path(tmp) / scriptmode.SOURCE_TAR
            tar.write_bytes(scriptmode.pack(step.entry_point))
            self._upload(step.name, tar, bucket, key)
        return {"source_dir": f"s3://{bucket}/{key}", "program": name}

    def _job_spec(
        self,
        step: TrainStep,
        ctx: Context,
        *,
        output: str,
        checkpoints: str | None,
        source: dict[str, str] | None = None,
        metrics: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """What a training job and a tuning job's TrainingJobDefinition have in common.

        `checkpoints`: the job's own checkpoint prefix in the bucket, None when there is none
        (a tuning job's trials would share one); managed spot follows `spot_wait`.
        `source`: script mode's uploaded source (`_script_source`); `metrics`: more metrics
        a script's job must publish (a tuning objective).
        """
        data = ctx.result(step.name, step.data)
        if source is not None:
            models = {
                channel: ctx.result(step.name, model)["model_artifact"]
                for channel, model in entrypoints.model_channels(step.hyperparameters).items()
            }
            channels = scriptmode.input_channels(data["channels"], models)
            algorithm_spec: dict[str, Any] = {
                "TrainingImage": scriptmode.training_image(step, self.region),
                "TrainingInputMode": "File",
                "MetricDefinitions": scriptmode.metric_definitions([step.metric.name, *metrics]),
            }
        else:
            channels = self._built_in_channels(step, data)
            algorithm_spec = {
                "TrainingImage": images.image_uri(step.algorithm, self.region),
                "TrainingInputMode": "File",
            }
        bucket = ctx.output("bucket")
        stopping: dict[str, int] = {"MaxRuntimeInSeconds": step.max_runtime}
        spec: dict[str, Any] = {
            "AlgorithmSpecification": algorithm_spec,
            "RoleArn": ctx.output("role_arn"),
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{output}"},
            "ResourceConfig": {
                "InstanceType": step.instance_type,
                "InstanceCount": step.instance_count,
                "VolumeSizeInGB": step.volume_gb,
            },
            "StoppingCondition": stopping,
        }
        checkpointed = checkpoints is not None and resumes(step.algorithm)
        wait = spot_wait(step, checkpointed=checkpointed)
        spec["EnableManagedSpotTraining"] = wait is not None
        if wait is not None:
            stopping["MaxWaitTimeInSeconds"] = wait
            if checkpointed:
                spec["CheckpointConfig"] = {"S3Uri": f"s3://{bucket}/{checkpoints}"}
        return spec | secure.isolation(ctx)

    def _built_in_channels(self, step: TrainStep, data: dict[str, Any]) -> list[dict[str, Any]]:
        """A built-in algorithm's channels from the data step's folders."""
        algo = ALGORITHMS.get(step.algorithm)
        if algo is None:
            raise Unsupported(
                f"step '{step.name}': '{step.algorithm}' is not a built-in algorithm labctl runs "
                "on SageMaker yet",
                hint=f"built-in: {', '.join(ALGORITHMS)}",
            )
        channels = []
        for ch in algo.channels:
            uri = data["channels"].get(ch.source)
            if uri is None:
                raise BackendError(
                    f"step '{step.name}': data step '{step.data}' has no '{ch.source}' channel"
                )
            channels.append(
                {
                    "ChannelName": ch.name,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": ch.distribution,
                        }
                    },
                    "ContentType": ch.content_type,
                    "CompressionType": "None",
                }
            )
        return channels

    def _finish_training(
        self, ctx: Context, step_name: str, res: Resource, desc: dict[str, Any]
    ) -> dict[str, Any]:
        """Close the job's ledger row with SageMaker's billable time; return its result."""
        name = desc["TrainingJobName"]
        status = desc["TrainingJobStatus"]
        billable = desc.get("BillableTimeInSeconds")
        seconds = desc.get("TrainingTimeInSeconds")
        metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
        artifact = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        ctx.ledger.update_resource(
            res.id,
            attrs={"metrics": metrics, "model_artifact": artifact, "training_seconds": seconds},
        )
        ctx.ledger.close_resource(
            res.id,
            status=status,
            billable_seconds=float(billable) if billable is not None else None,
            stopped_at=naive_utc(desc.get("TrainingEndTime")),
        )
        if status != "Completed":
            raise BackendError(
                f"step '{step_name}': training job {name} {status}: "
                f"{desc.get('FailureReason', 'no reason given')}",
                hint=f"CloudWatch logs: /aws/sagemaker/TrainingJobs, stream {name}/algo-1-...",
            )
        savings = None
        if billable is not None and seconds:
            savings = round(1 - billable / seconds, 4)
        return {
            "job": name,
            "arn": desc.get("TrainingJobArn"),
            "status": status,
            "model_artifact": artifact,
            "metrics": metrics,
            "billable_seconds": billable,
            "training_seconds": seconds,
            "spot_savings": savings,
            "algorithm": desc.get("AlgorithmSpecification", {}).get("TrainingImage"),
        }
