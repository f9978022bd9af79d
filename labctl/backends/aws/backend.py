"""The `aws` target: the lab's steps on Amazon SageMaker, through boto3.

Terraform (terraform/modules/aws) makes the lab's bucket and execution role; this module runs the
steps against them: data to S3, training jobs with managed spot and checkpoints, automatic model
tuning, model + endpoint config + endpoint (production variants, data capture, autoscaling),
batch transform and a Model Monitor data-quality schedule. Every billable resource is written to
the ledger before the call that creates it, and carries the three labctl tags.

Design choices:
- boto3 is imported here only, and clients are made on first use: `labctl list` never pays for it.
  Credentials come from boto3's standard chain; `AWS_ENDPOINT_URL` (moto in tests) is honoured by
  boto3 itself.
- Every AWS call goes through `_api`, the one place a botocore error becomes a `BackendError`
  naming the step, the operation and the AWS error code, with a hint for what to do.
- Waiting is polling with an injectable `sleep` and `clock`, so tests never sleep.
- Teardown is idempotent: "not found" is success. An endpoint's teardown removes its monitoring
  schedules and autoscaling first (the ledger's teardown order has endpoints first), and the later
  teardown of those resources tolerates their being gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from labctl import channels, config, datagen, naming
from labctl.backends import aws_algorithms
from labctl.backends.aws_algorithms import ALGORITHMS
from labctl.backends.aws_errors import (
    CREDENTIALS_HINT,
    aws_error,
    is_credentials_error,
    is_gone,
)
from labctl.backends.base import Backend, Context, Finding, hp_string, hp_strings
from labctl.backends.modules import AWS_DEFAULT_REGION as DEFAULT_REGION
from labctl.backends.modules import AwsModule
from labctl.catalog import (
    BatchStep,
    CategoricalRange,
    ContinuousRange,
    DataStep,
    DeployStep,
    Lab,
    MonitorStep,
    PipelineStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)
from labctl.errors import BackendError, LabctlError, Unsupported
from labctl.ledger import Ledger, Resource, naive_utc

POLL_SECONDS = 15.0
WAIT_MARGIN = 900  # seconds beyond a job's own limits before labctl stops waiting
ENDPOINT_TIMEOUT = 3600
SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}
STRATEGIES = {"bayesian": "Bayesian", "random": "Random", "grid": "Grid", "hyperband": "Hyperband"}
SCALING = {
    "auto": "Auto",
    "linear": "Linear",
    "logarithmic": "Logarithmic",
    "reverse-logarithmic": "ReverseLogarithmic",
}


class AwsBackend(AwsModule, Backend):
    name = "aws"

    def __init__(
        self,
        *,
        session: Any = None,
        clients: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._session = session or boto3.session.Session()
        self.region = self._session.region_name or config.settings().aws.region or DEFAULT_REGION
        self._clients: dict[tuple[str, str], Any] = {
            (service, self.region): client for service, client in (clients or {}).items()
        }
        self._sleep = sleep
        self._clock = clock
        self.poll_seconds = poll_seconds

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep() if step.algorithm not in ALGORITHMS:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.algorithm}' is not a built-in algorithm labctl runs on "
                            f"SageMaker yet (built-in: {', '.join(ALGORITHMS)})",
                        )
                    )
                case TrainStep():
                    try:
                        aws_algorithms.image_uri(step.algorithm, self.region)
                    except LabctlError as exc:
                        findings.append(Finding(step.name, f"{exc.message}; {exc.hint}"))
                case ServiceStep():
                    findings.append(
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on aws yet"
                            + ("; skipped" if step.optional else ""),
                            fatal=not step.optional,
                        )
                    )
                case PipelineStep():
                    findings.append(
                        Finding(step.name, "SageMaker Pipelines are not created yet", fatal=False)
                    )
                case DeployStep() if step.autoscaling and step.autoscaling.min_instances < 1:
                    findings.append(
                        Finding(
                            step.name,
                            "a real-time endpoint keeps at least 1 instance; min_instances -> 1",
                            fatal=False,
                        )
                    )
                case MonitorStep():
                    findings += _monitor_findings(lab, step)
        return findings

    # --- steps ------------------------------------------------------------------------------

    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        """Generate the dataset here, upload it under s3://<bucket>/data/<step>/.

        Besides the generator's `raw/`, `train/` and `validation/`, writes what later steps need:
        `train-features/` (no label; Random Cut Forest trains on it), `batch-input/` (validation
        without labels, one record per line) and `baseline/` (Model Monitor statistics and
        constraints of the features) when a step of the lab uses them.
        """
        rows = ctx.rows or step.cloud_rows or step.rows
        bucket = ctx.output("bucket")
        prefix = f"data/{step.name}"
        needs = _derived_channels(ctx.lab, step.name)
        with (
            tempfile.TemporaryDirectory(prefix="labctl-data-") as tmp,
            ctx.reporter.task(
                f"data {step.name}: {rows:,} rows -> s3://{bucket}/{prefix}/"
            ) as task,
        ):
            out = Path(tmp)
            schema = datagen.generate(
                step.generator,
                rows=rows,
                seed=step.seed,
                out_dir=out,
                validation_fraction=step.validation_fraction,
            )
            text = schema.get("content_type") == "text/plain"
            if "train-features" in needs:
                channels.strip_labels(out / "train", out / "train-features", text=text, jsonl=False)
            if "batch-input" in needs:
                channels.strip_labels(
                    out / "validation", out / "batch-input", text=text, jsonl=text
                )
            baseline = None
            if "baseline" in needs and not text:
                channels.baseline(out / "train", schema, out / "baseline")
                baseline = f"s3://{bucket}/{prefix}/baseline/"
            files = sorted(p for p in out.rglob("*") if p.is_file())
            for file in files:
                key = f"{prefix}/{file.relative_to(out).as_posix()}"
                task.advance(0, description=f"data {step.name}: uploading {key}")
                self._upload(step.name, file, bucket, key)
            folders = sorted({p.name for p in out.iterdir() if p.is_dir()} - {"raw", "baseline"})
        return {
            "s3_uri": f"s3://{bucket}/{prefix}/",
            "channels": {d: f"s3://{bucket}/{prefix}/{d}/" for d in folders},
            "raw": f"s3://{bucket}/{prefix}/raw/",
            "baseline": baseline,
            "rows": rows,
            "schema": schema,
        }

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
            spot=step.spot,
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
            Tags=_tags(ctx),
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

    def tune(self, *, step: TuneStep, ctx: Context) -> dict[str, Any]:
        """Automatic model tuning over the train step's job; the best job's model is the result."""
        train = ctx.lab.step(step.train)
        assert isinstance(train, TrainStep)
        name = sm_name(step.name, ctx.run.id, limit=32)
        n_jobs = ctx.max_jobs or step.max_jobs
        parallel = min(step.max_parallel_jobs, n_jobs)
        spec = self._job_spec(
            train, ctx, output=f"models/{name}/", checkpoints=f"checkpoints/{name}/"
        )
        static = {
            k: v for k, v in hp_strings(train.hyperparameters).items() if k not in step.ranges
        }
        limits: dict[str, int] = {"MaxParallelTrainingJobs": parallel}
        if step.strategy != "grid":  # grid runs every combination of its categorical values
            limits["MaxNumberOfTrainingJobs"] = n_jobs
        tuning_config: dict[str, Any] = {
            "Strategy": STRATEGIES[step.strategy],
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize" if step.objective.goal == "maximize" else "Minimize",
                "MetricName": step.objective.name,
            },
            "ResourceLimits": limits,
            "ParameterRanges": parameter_ranges(step),
            # Hyperband stops jobs itself; SageMaker requires per-job early stopping Off with it.
            "TrainingJobEarlyStoppingType": (
                "Auto" if step.early_stopping and step.strategy != "hyperband" else "Off"
            ),
        }
        if step.strategy == "hyperband":
            hyperband: dict[str, int] = {"MinResource": 1}
            rounds = train.hyperparameters.get("epochs") or train.hyperparameters.get("num_round")
            if isinstance(rounds, int) and rounds > 1:
                hyperband["MaxResource"] = rounds
            tuning_config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
        kwargs: dict[str, Any] = {}
        parents = self._warm_start_parents(ctx, step) if step.warm_start else []
        if parents:
            kwargs["WarmStartConfig"] = {
                "ParentHyperParameterTuningJobs": [
                    {"HyperParameterTuningJobName": p} for p in parents
                ],
                "WarmStartType": "IdenticalDataAndAlgorithm",
            }
        res = self._add(
            ctx,
            "tuning-job",
            name,
            instance_type=train.instance_type,
            instance_count=train.instance_count,
            spot=train.spot,
            attrs={
                "step": step.name,
                "train": train.name,
                "algorithm": train.algorithm,
                "strategy": step.strategy,
                "max_jobs": n_jobs,
                "max_parallel_jobs": parallel,
                "warm_start_from": parents,
            },
        )
        self._create(
            ctx,
            res,
            "create_hyper_parameter_tuning_job",
            status="InProgress",
            arn_key="HyperParameterTuningJobArn",
            step=step.name,
            HyperParameterTuningJobName=name,
            HyperParameterTuningJobConfig=tuning_config,
            TrainingJobDefinition={"StaticHyperParameters": static, **spec},
            Tags=_tags(ctx),
            **kwargs,
        )
        per_job = spec["StoppingCondition"].get(
            "MaxWaitTimeInSeconds", spec["StoppingCondition"]["MaxRuntimeInSeconds"]
        )
        timeout = math.ceil(n_jobs / parallel) * per_job + WAIT_MARGIN
        with ctx.reporter.task(
            f"tune {name}: {step.strategy}, {n_jobs} jobs, {parallel} at a time", total=n_jobs
        ) as task:
            desc = self._wait(
                f"tuning job {name}",
                lambda: self._api(
                    "sagemaker",
                    "describe_hyper_parameter_tuning_job",
                    step=step.name,
                    HyperParameterTuningJobName=name,
                ),
                "HyperParameterTuningJobStatus",
                done=("Completed", "Failed", "Stopped"),
                timeout=timeout,
                task=task,
            )
        status = desc["HyperParameterTuningJobStatus"]
        billable = self._tuning_billable(name, step.name)
        counters = desc.get("TrainingJobStatusCounters", {})
        best = desc.get("BestTrainingJob")
        ctx.ledger.update_resource(res.id, attrs={"training_jobs": counters})
        ctx.ledger.close_resource(
            res.id,
            status=status,
            billable_seconds=billable,
            stopped_at=naive_utc(desc.get("HyperParameterTuningEndTime")),
        )
        if status != "Completed" or not best:
            raise BackendError(
                f"step '{step.name}': tuning job {name} {status}: "
                f"{desc.get('FailureReason') or 'no training job completed'}",
                hint="the SageMaker console's Hyperparameter tuning jobs page shows each job",
            )
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        metric_name = metric.get("MetricName", step.objective.name)
        result = {
            "tuning_job": name,
            "status": status,
            "best_job": best["TrainingJobName"],
            "best_hyperparameters": best.get("TunedHyperParameters", {}),
            "metric": {"name": metric_name, "value": metric.get("Value")},
            "metrics": {metric_name: metric.get("Value")},
            # SageMaker's layout for a tuning job's training jobs: <output>/<job>/output/
            "model_artifact": f"{spec['OutputDataConfig']['S3OutputPath']}"
            f"{best['TrainingJobName']}/output/model.tar.gz",
            "algorithm": train.algorithm,
            "training_jobs": counters,
            "billable_seconds": billable,
        }
        ctx.ledger.update_resource(res.id, attrs={"best": result["best_job"], **result["metric"]})
        return result

    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        """Model(s), endpoint config (variants, data capture), endpoint, then autoscaling."""
        endpoint = sm_name(step.name, ctx.run.id)
        variants = [
            (v.name, v.model, v.weight, v.instance_type or step.instance_type)
            for v in step.variants
        ] or [("AllTraffic", step.model, 1.0, step.instance_type)]
        models = {
            model_step: self._create_model(ctx, step.name, model_step)
            for model_step in dict.fromkeys(v[1] for v in variants)
        }
        bucket = ctx.output("bucket")
        config_name = sm_name(step.name, ctx.run.id, suffix="cfg")
        production = [
            {
                "VariantName": v_name,
                "ModelName": models[model_step],
                "InitialInstanceCount": step.instance_count,
                "InstanceType": itype,
                "InitialVariantWeight": float(weight),
            }
            for v_name, model_step, weight, itype in variants
        ]
        kwargs: dict[str, Any] = {}
        capture = None
        if step.data_capture_percent > 0:
            capture = f"s3://{bucket}/datacapture"
            algos = {_algorithm_of(ctx.lab, m) for m in models}
            kwargs["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": step.data_capture_percent,
                "DestinationS3Uri": capture,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": sorted(
                        {"application/json", *(ALGORITHMS[a].accept for a in algos)} - {"text/csv"}
                    ),
                },
            }
        cfg = self._add(ctx, "endpoint-config", config_name, attrs={"step": step.name})
        created = self._create(
            ctx,
            cfg,
            "create_endpoint_config",
            status="created",
            arn_key="EndpointConfigArn",
            step=step.name,
            EndpointConfigName=config_name,
            ProductionVariants=production,
            Tags=_tags(ctx),
            **kwargs,
        )

        # One ledger row for the endpoint: its instances across variants, priced at launch.
        ep = self._add(
            ctx,
            "endpoint",
            endpoint,
            with_price=False,
            **self._endpoint_fields(ctx, [v[3] for v in variants], step.instance_count),
            attrs={
                "step": step.name,
                "config": config_name,
                "models": models,
                "variants": [
                    {"name": n, "model": m, "weight": w, "instance_type": t}
                    for n, m, w, t in variants
                ],
                "content_type": ALGORITHMS[_algorithm_of(ctx.lab, variants[0][1])].request_type,
            },
        )
        created = self._create(
            ctx,
            ep,
            "create_endpoint",
            status="Creating",
            arn_key="EndpointArn",
            step=step.name,
            EndpointName=endpoint,
            EndpointConfigName=config_name,
            Tags=_tags(ctx),
        )
        with ctx.reporter.task(f"deploy {endpoint} ({len(variants)} variant(s))") as task:
            desc = self._wait(
                f"endpoint {endpoint}",
                lambda: self._api(
                    "sagemaker", "describe_endpoint", step=step.name, EndpointName=endpoint
                ),
                "EndpointStatus",
                done=("InService", "Failed", "OutOfService"),
                timeout=ENDPOINT_TIMEOUT,
                task=task,
            )
        status = desc["EndpointStatus"]
        ctx.ledger.update_resource(ep.id, status=status)
        if status != "InService":
            raise BackendError(
                f"step '{step.name}': endpoint {endpoint} is {status}: "
                f"{desc.get('FailureReason', 'no reason given')}",
                hint=f"CloudWatch logs: /aws/sagemaker/Endpoints/{endpoint}",
            )
        scaling = []
        if step.autoscaling:
            for v_name, *_ in variants:
                scaling.append(self._autoscale(ctx, step, endpoint, v_name))
        return {
            "endpoint": endpoint,
            "endpoint_arn": created["EndpointArn"],
            "endpoint_config": config_name,
            "models": models,
            "variants": [
                {"name": n, "model": m, "weight": w, "instance_type": t} for n, m, w, t in variants
            ],
            "data_capture": capture,
            "autoscaling": scaling,
            "content_type": ALGORITHMS[_algorithm_of(ctx.lab, variants[0][1])].request_type,
            "accept": ALGORITHMS[_algorithm_of(ctx.lab, variants[0][1])].accept,
        }

    def batch(self, *, step: BatchStep, ctx: Context) -> dict[str, Any]:
        """Batch transform over the data step's validation records (labels removed)."""
        data = ctx.result(step.name, step.data)
        source = data["channels"].get("batch-input")
        if not source:
            raise BackendError(f"step '{step.name}': data step '{step.data}' has no batch-input")
        algo = ALGORITHMS[_algorithm_of(ctx.lab, step.model)]
        model = self._model_for(ctx, step.name, step.model)
        name = sm_name(step.name, ctx.run.id)
        output = f"s3://{ctx.output('bucket')}/batch/{name}/"
        res = self._add(
            ctx,
            "batch-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            attrs={"step": step.name, "model": model, "output": output},
        )
        self._create(
            ctx,
            res,
            "create_transform_job",
            status="InProgress",
            arn_key="TransformJobArn",
            step=step.name,
            TransformJobName=name,
            ModelName=model,
            BatchStrategy="MultiRecord",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                "ContentType": algo.batch_type,
                "SplitType": "Line",
                "CompressionType": "None",
            },
            TransformOutput={
                "S3OutputPath": output,
                "Accept": algo.batch_accept,
                "AssembleWith": "Line",
            },
            TransformResources={
                "InstanceType": step.instance_type,
                "InstanceCount": step.instance_count,
            },
            Tags=_tags(ctx),
        )
        with ctx.reporter.task(f"batch {name} ({step.instance_type})") as task:
            desc = self._wait(
                f"transform job {name}",
                lambda: self._api(
                    "sagemaker", "describe_transform_job", step=step.name, TransformJobName=name
                ),
                "TransformJobStatus",
                done=("Completed", "Failed", "Stopped"),
                timeout=max(3600, 4 * step.expected_runtime) + WAIT_MARGIN,
                task=task,
            )
        status = desc["TransformJobStatus"]
        started, ended = desc.get("TransformStartTime"), desc.get("TransformEndTime")
        billable = (ended - started).total_seconds() if started and ended else None
        ctx.ledger.close_resource(
            res.id, status=status, billable_seconds=billable, stopped_at=naive_utc(ended)
        )
        if status != "Completed":
            raise BackendError(
                f"step '{step.name}': transform job {name} {status}: "
                f"{desc.get('FailureReason', 'no reason given')}",
                hint=f"CloudWatch logs: /aws/sagemaker/TransformJobs, stream {name}/...",
            )
        return {"job": name, "model": model, "input": source, "output": output, "status": status}

    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        """A Model Monitor data-quality schedule on the endpoint, baselined on the training data.

        The baseline (statistics.json, constraints.json) is computed by the data step on this
        machine; model quality, bias and explainability are not scheduled yet (they need ground
        truth labels or Clarify). An AWS-compatible endpoint without CreateMonitoringSchedule
        (moto) gets a result saying so, and nothing is left behind.
        """
        deploy = ctx.lab.step(step.endpoint)
        assert isinstance(deploy, DeployStep)
        endpoint = ctx.result(step.name, step.endpoint)["endpoint"]
        data = ctx.result(step.name, _data_of(ctx.lab, deploy.model))
        not_scheduled = [c for c in step.checks if c != "data-quality"]
        if not data.get("baseline") or deploy.data_capture_percent == 0:
            return {
                "skipped": "data-quality monitoring needs tabular traffic and data capture "
                f"(capture {deploy.data_capture_percent}%)",
                "endpoint": endpoint,
            }
        name = sm_name(step.name, ctx.run.id)
        definition = sm_name(step.name, ctx.run.id, suffix="dq")
        bucket = ctx.output("bucket")
        schedule = SCHEDULES[step.schedule]
        res = self._add(
            ctx,
            "monitoring-schedule",
            name,
            instance_type=step.instance_type,
            instance_count=1,
            attrs={
                "step": step.name,
                "endpoint": endpoint,
                "job_definition": definition,
                "schedule": schedule,
                "billing": "each run bills a processing job; the ledger counts the schedule's "
                "whole interval at that instance's price, an upper bound",
            },
        )
        with ctx.creating(res):
            self._api(
                "sagemaker",
                "create_data_quality_job_definition",
                step=step.name,
                JobDefinitionName=definition,
                DataQualityBaselineConfig={
                    "ConstraintsResource": {"S3Uri": f"{data['baseline']}constraints.json"},
                    "StatisticsResource": {"S3Uri": f"{data['baseline']}statistics.json"},
                },
                DataQualityAppSpecification={
                    "ImageUri": aws_algorithms.image_uri("model-monitor", self.region)
                },
                DataQualityJobInput={
                    "EndpointInput": {
                        "EndpointName": endpoint,
                        "LocalPath": "/opt/ml/processing/input/endpoint",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                DataQualityJobOutputConfig={
                    "MonitoringOutputs": [
                        {
                            "S3Output": {
                                "S3Uri": f"s3://{bucket}/monitoring/{endpoint}/reports",
                                "LocalPath": "/opt/ml/processing/output",
                                "S3UploadMode": "EndOfJob",
                            }
                        }
                    ]
                },
                JobResources={
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": step.instance_type,
                        "VolumeSizeInGB": 20,
                    }
                },
                RoleArn=ctx.output("role_arn"),
                StoppingCondition={"MaxRuntimeInSeconds": 1800},
                Tags=_tags(ctx),
            )
        try:
            created = self._api(
                "sagemaker",
                "create_monitoring_schedule",
                step=step.name,
                tolerate=self._unimplemented,
                MonitoringScheduleName=name,
                MonitoringScheduleConfig={
                    "ScheduleConfig": {"ScheduleExpression": schedule},
                    "MonitoringJobDefinitionName": definition,
                    "MonitoringType": "DataQuality",
                },
                Tags=_tags(ctx),
            )
        except BackendError:
            self._api(
                "sagemaker",
                "delete_data_quality_job_definition",
                step=step.name,
                tolerate=is_gone,
                JobDefinitionName=definition,
            )
            ctx.ledger.close_resource(res.id, status="not-created")
            raise
        result = {
            "monitoring_schedule": name if created else None,
            "job_definition": definition,
            "endpoint": endpoint,
            "baseline": data["baseline"],
            "schedule": schedule,
            "checks": ["data-quality"],
            "not_scheduled": not_scheduled,
        }
        if created is None:
            self._api(
                "sagemaker",
                "delete_data_quality_job_definition",
                step=step.name,
                tolerate=is_gone,
                JobDefinitionName=definition,
            )
            ctx.ledger.close_resource(res.id, status="not-created")
            url = self._client("sagemaker").meta.endpoint_url
            return {
                **result,
                "skipped": f"the SageMaker API at {url} does not implement "
                "CreateMonitoringSchedule (moto); nothing was scheduled",
            }
        ctx.ledger.update_resource(
            res.id, status="Pending", provider_id=created["MonitoringScheduleArn"]
        )
        desc = self._wait(
            f"monitoring schedule {name}",
            lambda: self._api(
                "sagemaker",
                "describe_monitoring_schedule",
                step=step.name,
                MonitoringScheduleName=name,
            ),
            "MonitoringScheduleStatus",
            done=("Scheduled", "Failed", "Stopped"),
            timeout=600,
        )
        status = desc["MonitoringScheduleStatus"]
        ctx.ledger.update_resource(res.id, status=status)
        if status != "Scheduled":
            raise BackendError(
                f"step '{step.name}': monitoring schedule {name} is {status}: "
                f"{desc.get('FailureReason', 'no reason given')}"
            )
        return {**result, "status": status}

    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        return {
            "skipped": "SageMaker Pipelines are not created by labctl yet; "
            "its steps ran once in this lab",
            "steps": step.steps,
        }

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        if not step.optional:
            raise Unsupported(
                f"step '{step.name}': labctl does not provision '{step.service}' on aws yet",
                hint="the lab cannot run on aws until it does",
            )
        ctx.reporter.warn(f"step '{step.name}': '{step.service}' is not provisioned; skipped")
        return {"skipped": f"'{step.service}' is not provisioned by labctl on aws yet (optional)"}

    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or stop) one resource; one that is already gone counts as deleted."""
        region = resource.region or self.region
        name = resource.name
        attrs = resource.attrs or {}
        call = self._teardown_call(region)
        match resource.kind:
            case "endpoint":
                # Schedules and autoscaling hang off the endpoint: remove them first.
                for other in ledger.open_resources(resource.run_id):
                    if other.kind in ("monitoring-schedule", "scaling-policy") and (
                        (other.attrs or {}).get("endpoint") == name
                    ):
                        self.teardown(other, ledger)
                        ledger.close_resource(other.id, status="deleted")
                call("sagemaker", "delete_endpoint", EndpointName=name)
            case "endpoint-config":
                call("sagemaker", "delete_endpoint_config", EndpointConfigName=name)
            case "model":
                call("sagemaker", "delete_model", ModelName=name)
            case "scaling-policy":
                target = {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": attrs.get("resource_id", ""),
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                }
                call("application-autoscaling", "delete_scaling_policy", PolicyName=name, **target)
                call("application-autoscaling", "deregister_scalable_target", **target)
            case "monitoring-schedule":
                if call(
                    "sagemaker",
                    "delete_monitoring_schedule",
                    MonitoringScheduleName=name,
                    also=self._unimplemented,
                ):
                    # The job definition can go once the schedule is gone.
                    with contextlib.suppress(BackendError):
                        self._wait(
                            f"monitoring schedule {name} deletion",
                            lambda: (
                                call(
                                    "sagemaker",
                                    "describe_monitoring_schedule",
                                    MonitoringScheduleName=name,
                                )
                                or {"MonitoringScheduleStatus": "Deleted"}
                            ),
                            "MonitoringScheduleStatus",
                            done=("Deleted",),
                            timeout=300,
                        )
                if attrs.get("job_definition"):
                    call(
                        "sagemaker",
                        "delete_data_quality_job_definition",
                        JobDefinitionName=attrs["job_definition"],
                    )
            case "training-job":
                desc = call("sagemaker", "describe_training_job", TrainingJobName=name)
                if desc and desc["TrainingJobStatus"] == "InProgress":
                    call("sagemaker", "stop_training_job", TrainingJobName=name)
            case "tuning-job":
                desc = call(
                    "sagemaker",
                    "describe_hyper_parameter_tuning_job",
                    HyperParameterTuningJobName=name,
                )
                if desc and desc["HyperParameterTuningJobStatus"] == "InProgress":
                    call(
                        "sagemaker",
                        "stop_hyper_parameter_tuning_job",
                        HyperParameterTuningJobName=name,
                    )
            case "batch-job":
                desc = call("sagemaker", "describe_transform_job", TransformJobName=name)
                if desc and desc["TransformJobStatus"] == "InProgress":
                    call("sagemaker", "stop_transform_job", TransformJobName=name)
            case _:
                pass  # the stack (terraform) and anything without a cloud-side object

    def live_status(self, resource: Resource) -> str:
        """The resource's status as SageMaker reports it now ('gone' when it no longer exists)."""
        describe = {
            "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
            "training-job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
            "tuning-job": (
                "describe_hyper_parameter_tuning_job",
                "HyperParameterTuningJobName",
                "HyperParameterTuningJobStatus",
            ),
            "batch-job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
            "monitoring-schedule": (
                "describe_monitoring_schedule",
                "MonitoringScheduleName",
                "MonitoringScheduleStatus",
            ),
            "model": ("describe_model", "ModelName", None),
            "endpoint-config": ("describe_endpoint_config", "EndpointConfigName", None),
        }.get(resource.kind)
        if describe is None:
            return resource.status
        op, key, status_key = describe
        try:
            desc = self._api(
                "sagemaker",
                op,
                region=resource.region,
                tolerate=is_gone,
                **{key: resource.name},
            )
        except BackendError as exc:
            return f"unknown ({exc.message[:60]})"
        if desc is None:
            return "gone"
        return desc[status_key] if status_key else "exists"

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        response = self._api(
            "sagemaker-runtime",
            "invoke_endpoint",
            region=resource.region,
            EndpointName=resource.name,
            Body=body,
            ContentType=content_type,
            Accept=accept,
        )
        return response["Body"].read()

    # --- training jobs ------------------------------------------------------------------------

    def _job_spec(
        self, step: TrainStep, ctx: Context, *, output: str, checkpoints: str
    ) -> dict[str, Any]:
        """What a training job and a tuning job's TrainingJobDefinition have in common."""
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
                "TrainingImage": aws_algorithms.image_uri(step.algorithm, self.region),
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
            "EnableManagedSpotTraining": step.spot,
        }
        if step.spot:
            stopping["MaxWaitTimeInSeconds"] = step.max_wait or 2 * step.max_runtime
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

    def _tuning_billable(self, name: str, step_name: str) -> float | None:
        """The billable seconds of all of a tuning job's training jobs (None if not known)."""
        total = 0.0
        kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
        while True:
            page = self._api(
                "sagemaker",
                "list_training_jobs_for_hyper_parameter_tuning_job",
                step=step_name,
                tolerate=self._unimplemented,
                **kwargs,
            )
            if page is None:
                return None
            for job in page.get("TrainingJobSummaries", []):
                desc = self._api(
                    "sagemaker",
                    "describe_training_job",
                    step=step_name,
                    tolerate=is_gone,
                    TrainingJobName=job["TrainingJobName"],
                )
                if desc and desc.get("BillableTimeInSeconds") is not None:
                    total += desc["BillableTimeInSeconds"]
            if not page.get("NextToken"):
                return total
            kwargs["NextToken"] = page["NextToken"]

    def _warm_start_parents(self, ctx: Context, step: TuneStep) -> list[str]:
        """This engineer's completed tuning jobs of the same lab step in this region (<= 5)."""
        from sqlalchemy import select

        with ctx.ledger.session() as s:
            found = s.scalars(
                select(Resource)
                .where(
                    Resource.kind == "tuning-job",
                    Resource.target == self.name,
                    Resource.lab == ctx.lab_name,
                    Resource.engineer == ctx.run.engineer,
                    Resource.region == self.region,
                    Resource.run_id != ctx.run.id,
                    Resource.status == "Completed",
                )
                .order_by(Resource.started_at.desc())
            ).all()
        return [r.name for r in found if (r.attrs or {}).get("step") == step.name][:5]

    # --- models and autoscaling ---------------------------------------------------------------

    def _create_model(self, ctx: Context, step_name: str, model_step: str) -> str:
        """A SageMaker model from a train or tune step's artifact, in the ledger first."""
        source = ctx.result(step_name, model_step)
        algorithm = _algorithm_of(ctx.lab, model_step)
        name = sm_name(f"{step_name}-{model_step}", ctx.run.id)
        res = self._add(
            ctx, "model", name, attrs={"step": step_name, "source": model_step}, with_price=False
        )
        self._create(
            ctx,
            res,
            "create_model",
            status="created",
            arn_key="ModelArn",
            step=step_name,
            ModelName=name,
            PrimaryContainer={
                "Image": aws_algorithms.image_uri(algorithm, self.region),
                "ModelDataUrl": source["model_artifact"],
            },
            ExecutionRoleArn=ctx.output("role_arn"),
            Tags=_tags(ctx),
        )
        return name

    def _model_for(self, ctx: Context, step_name: str, model_step: str) -> str:
        """The model a deploy step of this run made from `model_step`, else a new one."""
        for result in ctx.results.values():
            made = result.get("models") if isinstance(result, dict) else None
            if isinstance(made, dict) and model_step in made:
                return made[model_step]
        return self._create_model(ctx, step_name, model_step)

    def _autoscale(self, ctx: Context, step: DeployStep, endpoint: str, variant: str) -> dict:
        assert step.autoscaling is not None
        scaling = step.autoscaling
        resource_id = f"endpoint/{endpoint}/variant/{variant}"
        low = max(1, scaling.min_instances)
        high = max(low, scaling.max_instances)
        policy = sm_name(f"{endpoint}-{variant}", "invocations", limit=256)
        res = self._add(
            ctx,
            "scaling-policy",
            policy,
            attrs={
                "step": step.name,
                "endpoint": endpoint,
                "variant": variant,
                "resource_id": resource_id,
                "min": low,
                "max": high,
            },
            with_price=False,
        )
        target = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource_id,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        }
        with ctx.creating(res):
            self._api(
                "application-autoscaling",
                "register_scalable_target",
                step=step.name,
                MinCapacity=low,
                MaxCapacity=high,
                **target,
            )
            created = self._api(
                "application-autoscaling",
                "put_scaling_policy",
                step=step.name,
                PolicyName=policy,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": float(scaling.target_invocations_per_instance),
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                    },
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 60,
                },
                **target,
            )
        ctx.ledger.update_resource(res.id, status="active", provider_id=created["PolicyARN"])
        return {"policy": policy, "variant": variant, "min": low, "max": high}

    # --- plumbing -----------------------------------------------------------------------------

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,
                region_name=key[1],
                config=Config(retries={"mode": "standard"}, user_agent_extra="labctl"),
            )
        return self._clients[key]

    def _create(
        self, ctx: Context, res: Resource, operation: str, *, status: str, arn_key: str,
        **request: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Call a SageMaker create API for a resource already in the ledger: its row gets the
        ARN and status, or is closed as not-created when the call fails."""
        with ctx.creating(res):
            created = self._api("sagemaker", operation, **request)
        ctx.ledger.update_resource(res.id, status=status, provider_id=created[arn_key])
        return created

    def _api(
        self,
        service: str,
        operation: str,
        *,
        step: str | None = None,
        region: str | None = None,
        tolerate: Callable[[ClientError], bool] | None = None,
        **params: Any,
    ) -> Any:
        """Call one AWS operation; the one place AWS errors become `BackendError`s.

        Returns None when `tolerate(error)` says the error is acceptable (e.g. "not found").
        """
        client = self._client(service, region)
        try:
            return getattr(client, operation)(**params)
        except ClientError as exc:
            if tolerate is not None and tolerate(exc):
                return None
            raise aws_error(exc, service=service, step=step) from None
        except BotoCoreError as exc:
            where = f"step '{step}': " if step else ""
            if is_credentials_error(exc):
                raise BackendError(
                    f"{where}no usable AWS credentials: {exc}", hint=CREDENTIALS_HINT
                ) from None
            raise BackendError(
                f"{where}{operation} failed: {exc}",
                hint="check the network, AWS_ENDPOINT_URL and the region, then `labctl doctor`",
            ) from None

    def _teardown_call(self, region: str) -> Callable[..., Any]:
        def call(
            service: str, op: str, also: Callable[[ClientError], bool] | None = None, **kw: Any
        ) -> Any:
            def tolerate(exc: ClientError) -> bool:
                return is_gone(exc) or bool(also and also(exc))

            return self._api(service, op, region=region, tolerate=tolerate, **kw)

        return call

    def _unimplemented(self, exc: ClientError) -> bool:
        """An AWS-compatible endpoint (moto) that lacks this operation, never AWS itself."""
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        url = self._client("sagemaker").meta.endpoint_url or ""
        on_aws = re.search(r"\.amazonaws\.com(\.cn)?/?$", url) is not None
        return not on_aws and (
            code in ("NotImplemented", "InvalidAction") or (code.isdigit() and status in (500, 501))
        )

    def _upload(self, step_name: str, file: Path, bucket: str, key: str) -> None:
        from boto3.exceptions import S3UploadFailedError

        try:
            self._client("s3").upload_file(str(file), bucket, key)
        except S3UploadFailedError as exc:
            raise BackendError(
                f"step '{step_name}': uploading {file.name} to s3://{bucket}/{key} failed: {exc}",
                hint="check that the lab's bucket exists (`labctl status`) and your s3:PutObject "
                "permission",
            ) from None
        except ClientError as exc:
            raise aws_error(exc, service="s3", step=step_name) from None
        except BotoCoreError as exc:
            if is_credentials_error(exc):
                raise BackendError(
                    f"step '{step_name}': no usable AWS credentials: {exc}",
                    hint=CREDENTIALS_HINT,
                ) from None
            raise BackendError(f"step '{step_name}': uploading {key} failed: {exc}") from None

    def _wait(
        self,
        what: str,
        describe: Callable[[], dict[str, Any]],
        status_key: str,
        *,
        done: tuple[str, ...],
        timeout: float,
        task: Any = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        """Poll `describe` until its status is one of `done`; BackendError after `timeout` s."""
        deadline = self._clock() + timeout
        shown = None
        while True:
            desc = describe()
            status = desc[status_key]
            label = f"{status} ({desc[detail]})" if detail and desc.get(detail) else status
            if task is not None and label != shown:
                counters = desc.get("TrainingJobStatusCounters")
                if counters and task is not None:
                    label += f", {counters.get('Completed', 0)} done"
                task.advance(0, description=f"{what}: {label}")
            shown = label
            if status in done:
                return desc
            if self._clock() >= deadline:
                raise BackendError(
                    f"{what} is still {status} after {timeout / 60:.0f} minutes",
                    hint="it keeps running on AWS; `labctl status` shows it",
                )
            self._sleep(self.poll_seconds)


# --- doctor ---------------------------------------------------------------------------------------


def doctor(session: Any = None) -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for AWS: credentials, the account they reach, the region."""
    session = session or boto3.session.Session()
    lines: list[tuple[str, bool, str]] = []
    try:
        creds = session.get_credentials()
    except BotoCoreError as exc:
        creds = None
        lines.append(("credentials", False, f"{exc}: {CREDENTIALS_HINT}"))
    else:
        if creds is None:
            lines.append(
                (
                    "credentials",
                    False,
                    "none found: run `aws configure sso` / `aws sso login`, or set AWS_PROFILE",
                )
            )
        else:
            lines.append(("credentials", True, f"found ({creds.method})"))
    region = session.region_name or config.settings().aws.region
    if creds is not None:
        try:
            identity = session.client(
                "sts", region_name=region or DEFAULT_REGION
            ).get_caller_identity()
            lines.append(("account", True, f"{identity['Account']} as {identity['Arn']}"))
        except ClientError as exc:
            err = aws_error(exc, service="sts")
            lines.append(("account", False, f"{err.message}: {err.hint or CREDENTIALS_HINT}"))
        except BotoCoreError as exc:
            lines.append(("account", False, f"{exc}: {CREDENTIALS_HINT}"))
    if region is None:
        lines.append(
            (
                "region",
                False,
                f"not set (labctl would use {DEFAULT_REGION}): set AWS_REGION, a profile "
                "region, or `[aws] region` in the labctl config",
            )
        )
    else:
        known = region in aws_algorithms.IMAGES["xgboost"].registries
        lines.append(
            (
                "region",
                known,
                region if known else f"{region}: no SageMaker built-in images known there",
            )
        )
    return lines


# --- helpers ------------------------------------------------------------------------------------


def sm_name(base: str, run_id: str, *, suffix: str = "", limit: int = 63) -> str:
    """`<base>-<run>[-<suffix>]` within SageMaker's name rules; long bases keep a short hash."""
    tail = f"-{run_id}" + (f"-{suffix}" if suffix else "")
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-") or "x"
    if len(name) + len(tail) > limit:
        digest = hashlib.sha256(base.encode()).hexdigest()[:5]
        name = name[: max(1, limit - len(tail) - 6)].rstrip("-") + "-" + digest
    return (name + tail)[:limit].rstrip("-")


def parameter_ranges(step: TuneStep) -> dict[str, list[dict[str, Any]]]:
    """The TuneStep's ranges as SageMaker ParameterRanges (values as strings)."""
    out: dict[str, list[dict[str, Any]]] = {
        "ContinuousParameterRanges": [],
        "IntegerParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for key, rng in step.ranges.items():
        if isinstance(rng, CategoricalRange):
            out["CategoricalParameterRanges"].append(
                {"Name": key, "Values": [hp_string(v) for v in rng.values]}
            )
        else:
            kind = "Continuous" if isinstance(rng, ContinuousRange) else "Integer"
            out[f"{kind}ParameterRanges"].append(
                {
                    "Name": key,
                    "MinValue": hp_string(rng.min),
                    "MaxValue": hp_string(rng.max),
                    "ScalingType": SCALING[rng.scaling],
                }
            )
    return {k: v for k, v in out.items() if v}


def _tags(ctx: Context) -> list[dict[str, str]]:
    tags = naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _algorithm_of(lab: Lab, model_step: str) -> str:
    return lab.train_of(model_step).algorithm


def _data_of(lab: Lab, model_step: str) -> str:
    return lab.train_of(model_step).data


def _derived_channels(lab: Lab, data_step: str) -> set[str]:
    """Which extra folders the lab's later steps need from this data step."""
    needs: set[str] = set()
    for step in lab.steps:
        match step:
            case TrainStep(algorithm="random-cut-forest") if step.data == data_step:
                needs.add("train-features")
            case BatchStep() if step.data == data_step:
                needs.add("batch-input")
            case MonitorStep():
                deploy = lab.step(step.endpoint)
                assert isinstance(deploy, DeployStep)
                if _data_of(lab, deploy.model) == data_step:
                    needs.add("baseline")
    return needs


def _monitor_findings(lab: Lab, step: MonitorStep) -> list[Finding]:
    findings = []
    deploy = lab.step(step.endpoint)
    assert isinstance(deploy, DeployStep)
    others = [c for c in step.checks if c != "data-quality"]
    if others:
        findings.append(
            Finding(
                step.name,
                f"schedules data-quality monitoring only; {', '.join(others)} not yet",
                fatal=False,
            )
        )
    if deploy.data_capture_percent == 0:
        findings.append(
            Finding(step.name, f"deploy step '{deploy.name}' captures no traffic to monitor")
        )
    return findings
