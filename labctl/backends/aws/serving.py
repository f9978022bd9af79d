"""Models, real-time endpoints (variants, data capture, autoscaling), batch transform, invoke."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from labctl.backends.aws import images, scriptmode, secure
from labctl.backends.aws.algorithms import algorithm_of
from labctl.backends.aws.api import WAIT_MARGIN, AwsApi, sm_name, tags
from labctl.backends.aws.scriptmode import serving_io
from labctl.backends.base import Context
from labctl.catalog import BatchStep, DeployStep
from labctl.errors import BackendError, LabctlError, Unsupported
from labctl.ledger import Resource, naive_utc

ENDPOINT_TIMEOUT = 3600


class ServingMixin(AwsApi):
    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        """Model(s), endpoint config (variants, data capture), endpoint, then autoscaling."""
        endpoint = sm_name(step.name, ctx.run.id)
        variants = [
            (v.name, v.model, v.weight, v.instance_type or step.instance_type)
            for v in step.variants
        ] or [("AllTraffic", step.model, 1.0, step.instance_type)]
        served_on: dict[str, str] = {}  # model step -> the instance type of its first variant
        for v in variants:
            served_on.setdefault(v[1], v[3])
        models = {m: self._create_model(ctx, step.name, m, t) for m, t in served_on.items()}
        called = serving_io(ctx.lab, variants[0][1])  # how the endpoint is called
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
            kwargs["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": step.data_capture_percent,
                "DestinationS3Uri": capture,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": sorted(
                        {"application/json", *(serving_io(ctx.lab, m).accept for m in models)}
                        - {"text/csv"}
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
            Tags=tags(ctx),
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
                "content_type": called.request_type,
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
            Tags=tags(ctx),
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
            "content_type": called.request_type,
            "accept": called.accept,
        }

    def batch(self, *, step: BatchStep, ctx: Context) -> dict[str, Any]:
        """Batch transform over the data step's validation records (labels removed)."""
        data = ctx.result(step.name, step.data)
        source = data["channels"].get("batch-input")
        if not source:
            raise BackendError(f"step '{step.name}': data step '{step.data}' has no batch-input")
        algo = serving_io(ctx.lab, step.model)
        model = self._model_for(ctx, step.name, step.model, step.instance_type)
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
            Tags=tags(ctx),
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

    def _create_model(
        self, ctx: Context, step_name: str, model_step: str, instance_type: str
    ) -> str:
        """A SageMaker model from a train or tune step's artifact, in the ledger first.

        Script mode: the framework's inference image for `instance_type`, serving with the
        entry point's model_fn/input_fn/predict_fn from the source the training job ran.
        """
        source = ctx.result(step_name, model_step)
        secure.verify(self, ctx, step_name, model_step)  # before anything is made from it
        algorithm = algorithm_of(ctx.lab, model_step)
        name = sm_name(f"{step_name}-{model_step}", ctx.run.id)
        container: dict[str, Any] = {"ModelDataUrl": source["model_artifact"]}
        if scriptmode.is_script_mode(algorithm):
            try:
                container["Image"] = scriptmode.inference_image(
                    algorithm, self.region, instance_type
                )
            except LabctlError as exc:
                raise Unsupported(f"step '{step_name}': {exc.message}", hint=exc.hint) from None
            container["ModelDataUrl"] = self._repack(ctx, step_name, name, model_step)
            container["Environment"] = scriptmode.model_environment(source["program"], self.region)
        else:
            container["Image"] = images.image_uri(algorithm, self.region)
        res = self._add(
            ctx,
            "model",
            name,
            attrs={
                "step": step_name,
                "source": model_step,
                "model_data": container["ModelDataUrl"],
            },
            with_price=False,
        )
        self._create(
            ctx,
            res,
            "create_model",
            status="created",
            arn_key="ModelArn",
            step=step_name,
            ModelName=name,
            PrimaryContainer=container,
            ExecutionRoleArn=ctx.output("role_arn"),
            Tags=tags(ctx),
            **secure.isolation(ctx, model=True),
        )
        return name

    def _repack(self, ctx: Context, step_name: str, model: str, model_step: str) -> str:
        """The model step's artifact with its entry point's source under code/, uploaded next to
        it as `models/<model>/model.tar.gz` (what the SDK does for PyTorch/Hugging Face)."""
        artifact = ctx.result(step_name, model_step)["model_artifact"]
        entry_point = ctx.lab.train_of(model_step).entry_point
        assert entry_point is not None  # check() refuses script mode without one
        bucket, _, key = artifact.removeprefix("s3://").partition("/")
        out_key = f"models/{model}/model.tar.gz"
        with tempfile.TemporaryDirectory(prefix="labctl-repack-") as tmp:
            trained, repacked = Path(tmp) / "trained.tar.gz", Path(tmp) / "model.tar.gz"
            self._api(
                "s3", "download_file", step=step_name, Bucket=bucket, Key=key, Filename=str(trained)
            )
            scriptmode.repack(trained, entry_point, repacked)
            self._upload(step_name, repacked, ctx.output("bucket"), out_key)
        return f"s3://{ctx.output('bucket')}/{out_key}"

    def _model_for(self, ctx: Context, step_name: str, model_step: str, instance_type: str) -> str:
        """The model a deploy step of this run made from `model_step`, else a new one."""
        for result in ctx.results.values():
            made = result.get("models") if isinstance(result, dict) else None
            if isinstance(made, dict) and model_step in made:
                return made[model_step]
        return self._create_model(ctx, step_name, model_step, instance_type)

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
