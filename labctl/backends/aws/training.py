"""Training jobs: managed spot with checkpoints, waited for, billed by SageMaker's billable time."""

from __future__ import annotations

from typing import Any

from labctl.backends.aws import images
from labctl.backends.aws.algorithms import ALGORITHMS, spot_wait
from labctl.backends.aws.api import WAIT_MARGIN, AwsApi, sm_name, tags
from labctl.backends.base import Context, hp_strings
from labctl.catalog import TrainStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Resource, naive_utc


class TrainingMixin(AwsApi):
    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        """One training job (managed spot by default), waited for, billed by its billable time."""
        name = sm_name(step.name, ctx.run.id)
        spec = self._job_spec(step, ctx, output="models/", checkpoints=f"checkpoints/{name}/")
        hps = hp_strings(step.hyperparameters)
        res = self._add(
            ctx,
            "training-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            spot=spec["EnableManagedSpotTraining"],
            attrs={"step": step.name, "algorithm": step.algorithm, "hyperparameters": hps},
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
        return self._finish_training(ctx, step.name, res, desc)

    def _job_spec(
        self, step: TrainStep, ctx: Context, *, output: str, checkpoints: str | None
    ) -> dict[str, Any]:
        """What a training job and a tuning job's TrainingJobDefinition have in common.

        `checkpoints`: the job's own checkpoint prefix in the bucket, None when there is none
        (a tuning job's trials would share one); managed spot follows `spot_wait`.
        """
        data = ctx.result(step.name, step.data)
        algo = ALGORITHMS.get(step.algorithm)
        if algo is None:
            raise Unsupported(
                f"step '{step.name}': '{step.algorithm}' is not a built-in algorithm labctl runs "
                "on SageMaker yet",
                hint=f"built-in: {', '.join(ALGORITHMS)}",
            )
        bucket = ctx.output("bucket")
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
        stopping: dict[str, int] = {"MaxRuntimeInSeconds": step.max_runtime}
        spec: dict[str, Any] = {
            "AlgorithmSpecification": {
                "TrainingImage": images.image_uri(step.algorithm, self.region),
                "TrainingInputMode": "File",
            },
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
        checkpointed = checkpoints is not None and algo.checkpoints
        wait = spot_wait(step, checkpointed=checkpointed)
        spec["EnableManagedSpotTraining"] = wait is not None
        if wait is not None:
            stopping["MaxWaitTimeInSeconds"] = wait
            if checkpointed:
                spec["CheckpointConfig"] = {"S3Uri": f"s3://{bucket}/{checkpoints}"}
        return spec

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
