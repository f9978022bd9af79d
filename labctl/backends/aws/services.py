"""`service` steps whose resource an AWS API makes (not Terraform): a Feature Store feature group,
a model package group (and the lab's model registered in it), processing jobs (a preprocessing
step, a `deequ` data-quality step), an Inference Recommender job (over a SageMaker model of the
lab's last trained model), asynchronous Comprehend jobs (as the data access role the lab's
`comprehend` component made). Each is in the ledger before the call that creates it, tagged like
every other, and deleted (or stopped) by `down` (teardown.py). Other service kinds are Terraform
components (labctl.components).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labctl import components
from labctl.backends.aws import images, scriptmode, secure
from labctl.backends.aws.algorithms import algorithm_of
from labctl.backends.aws.api import WAIT_MARGIN, AwsApi, sm_name, tags
from labctl.backends.base import Context
from labctl.catalog import DataStep, ServiceStep, TrainStep, TuneStep
from labctl.errors import BackendError
from labctl.ledger import naive_utc

# service kind -> the AwsBackend method that makes it
SDK_SERVICES = {
    "sagemaker-feature-store": "feature_store",
    "sagemaker-model-registry": "model_registry",
    "sagemaker-processing": "processing",
    "inference-recommender": "inference_recommender",
    "comprehend": "comprehend",
    "deequ": "data_quality",  # Deequ-style checks in a SageMaker Processing job
}
# a comprehend step's `features` -> the Comprehend job (`start_<job>_job`, `stop_<job>_job`)
COMPREHEND_JOBS = {
    "entities": "entities_detection",
    "sentiment": "sentiment_detection",
    "key-phrases": "key_phrases_detection",
    "pii": "pii_entities_detection",
    "targeted-sentiment": "targeted_sentiment_detection",
}
RECOMMENDER_TYPES = ("Default", "Advanced")
PROCESSING_IMAGE = "pytorch-training"  # Python, Pillow and torchvision: the preprocess script
PROCESSING_SCRIPT = Path(__file__).with_name("preprocess_job.py")
DATA_QUALITY_SCRIPT = Path(__file__).with_name("data_quality_job.py")
PROCESSING_MAX_SECONDS = 3600
PROCESSING_ROOT = "/opt/ml/processing"
APPROVAL = {"manual": "PendingManualApproval", "auto": "Approved", "automatic": "Approved"}


class ServicesMixin(AwsApi):
    def sdk_service(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """Make the step's resource with the SageMaker API (its kind is in SDK_SERVICES)."""
        return getattr(self, SDK_SERVICES[step.service])(step, ctx)

    # --- Feature Store ------------------------------------------------------------------------

    def feature_store(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A feature group (online and/or offline store; the offline one in the lab bucket's
        `feature-store/`), keyed by `record_identifier`, timed by `event_time`."""
        s = step.settings
        name = sm_name(str(s.get("feature_group") or step.name), ctx.run.id)
        record, event = (
            str(s.get("record_identifier", "record_id")),
            str(s.get("event_time", "event_time")),
        )
        features = [{"FeatureName": record, "FeatureType": "String"}]
        features.append({"FeatureName": event, "FeatureType": "String"})
        features += [
            {"FeatureName": str(f), "FeatureType": "Fractional"}
            for f in s.get("features", [])
            if str(f) not in (record, event)
        ]
        request: dict[str, Any] = {
            "FeatureGroupName": name,
            "RecordIdentifierFeatureName": record,
            "EventTimeFeatureName": event,
            "FeatureDefinitions": features,
            "Description": f"labctl {ctx.lab_name} {step.name}",
            "Tags": tags(ctx),
        }
        if s.get("online", True):
            request["OnlineStoreConfig"] = {"EnableOnlineStore": True}
        offline = None
        if s.get("offline", True):
            offline = f"s3://{ctx.output('bucket')}/feature-store/"
            request["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": offline}}
            request["RoleArn"] = ctx.output("role_arn")
        res = self._add(
            ctx, "feature-group", name, with_price=False,
            attrs={"step": step.name, "offline_store": offline},
        )  # fmt: skip
        created = self._create(
            ctx, res, "create_feature_group", status="Created", arn_key="FeatureGroupArn",
            step=step.name, **request,
        )  # fmt: skip
        return {"feature_group": name, "arn": created["FeatureGroupArn"], "offline": offline}

    # --- Model Registry -----------------------------------------------------------------------

    def model_registry(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A model package group and, when a train or tune step has run before this one, its
        model as a package version, approved or pending a manual approval (`approval`)."""
        s = step.settings
        group = sm_name(str(s.get("model_package_group") or step.name), ctx.run.id)
        res = self._add(ctx, "model-package-group", group, with_price=False,
                        attrs={"step": step.name})  # fmt: skip
        self._create(
            ctx, res, "create_model_package_group", status="created",
            arn_key="ModelPackageGroupArn", step=step.name, ModelPackageGroupName=group,
            ModelPackageGroupDescription=f"labctl {ctx.lab_name} {step.name}", Tags=tags(ctx),
        )  # fmt: skip
        out: dict[str, Any] = {"model_package_group": group}
        source = self._model_before(step, ctx)
        if source is None:
            ctx.reporter.warn(
                f"step '{step.name}': no train or tune step ran before it; the group is empty"
            )
            return out
        model_step, artifact = source
        algorithm = algorithm_of(ctx.lab, model_step)
        container: dict[str, Any] = {"ModelDataUrl": artifact}
        if scriptmode.is_script_mode(algorithm):
            program = ctx.results[ctx.lab.train_of(model_step).name].get("program", "")
            container["Image"] = scriptmode.inference_image(algorithm, self.region, "ml.m5.large")
            container["Environment"] = scriptmode.model_environment(program, self.region)
        else:
            container["Image"] = images.image_uri(algorithm, self.region)
        status = APPROVAL.get(str(s.get("approval", "manual")), "PendingManualApproval")
        package = self._add(
            ctx, "model-package", f"{group}/{model_step}", with_price=False,
            attrs={"step": step.name, "group": group, "source": model_step},
        )  # fmt: skip
        created = self._create(
            ctx, package, "create_model_package", status=status, arn_key="ModelPackageArn",
            step=step.name, ModelPackageGroupName=group,
            ModelPackageDescription=f"{model_step} of run {ctx.run.id}",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus=status,
        )  # fmt: skip
        return {**out, "model_package": created["ModelPackageArn"], "approval": status}

    def _model_before(self, step: ServiceStep, ctx: Context) -> tuple[str, str] | None:
        """The last train or tune step before `step` that has a model artifact."""
        found = None
        for other in ctx.lab.steps:
            if other.name == step.name:
                break
            artifact = ctx.results.get(other.name, {}).get("model_artifact")
            if isinstance(other, TrainStep | TuneStep) and artifact:
                found = (other.name, str(artifact))
        return found

    # --- Processing ---------------------------------------------------------------------------

    def processing(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A processing job running preprocess_job.py over the last data step's files (sharded
        across `instance_count` instances), writing `processed/<step>/`; waited for."""
        augmentations = ",".join(str(a) for a in step.settings.get("augmentations", []))
        data = self._data_of(step, ctx, "s3_uri")
        return self._processing_job(step, ctx, PROCESSING_SCRIPT, data, "ShardedByS3Key",
                                    ["--augmentations", augmentations])  # fmt: skip

    def data_quality(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A `deequ` step: data_quality_job.py's constraint checks (`checks`) over the last
        data step's raw CSV, in a processing job (`runner: sagemaker-processing`); with
        `fail_on_error` a failed check fails the step. The report: `processed/<step>/`."""
        s = step.settings
        checks = [str(c) for c in s.get("checks", ["completeness", "uniqueness", "range"])]
        args = ["--checks", ",".join(checks)]
        if s.get("fail_on_error", True):
            args.append("--fail-on-error")
        data = self._data_of(step, ctx, "raw")
        settings = {**s, "instance_count": 1}  # the checks see every row
        one = step.model_copy(update={"settings": settings})
        return self._processing_job(one, ctx, DATA_QUALITY_SCRIPT, data, "FullyReplicated", args)

    def _data_of(self, step: ServiceStep, ctx: Context, key: str) -> str:
        """`key` (s3_uri, raw) of the last data step that ran before `step`."""
        for d in reversed(ctx.lab.steps):
            if isinstance(d, DataStep) and d.name in ctx.results and ctx.results[d.name].get(key):
                return str(ctx.results[d.name][key])
        raise BackendError(f"step '{step.name}' needs a data step to have run first")

    def _processing_job(
        self, step: ServiceStep, ctx: Context, script: Path, data: str, distribution: str,
        arguments: list[str],
    ) -> dict[str, Any]:  # fmt: skip
        """A processing job running `script` over `data` (its `distribution` across the
        step's `instance_count` x `instance_type`), writing `processed/<step>/`; waited for."""
        s = step.settings
        bucket = ctx.output("bucket")
        name = sm_name(step.name, ctx.run.id)
        itype, count = str(s.get("instance_type", "ml.m5.xlarge")), int(s.get("instance_count", 1))
        code_key = f"code/{name}/{script.name}"
        output = f"s3://{bucket}/processed/{step.name}/"
        res = self._add(
            ctx, "processing-job", name, instance_type=itype, instance_count=count,
            attrs={"step": step.name, "input": data, "output": output},
        )  # fmt: skip
        self._upload(step.name, script, bucket, code_key)
        request = processing_request(
            name, role_arn=ctx.output("role_arn"), region=self.region, script=script.name,
            code_uri=f"s3://{bucket}/{code_key}", inputs={"data": (data, distribution)},
            output=output, instance_type=itype, instance_count=count, arguments=arguments,
            tags=tags(ctx), network=secure.processing_network(ctx),
        )  # fmt: skip
        self._create(ctx, res, "create_processing_job", status="InProgress",
                     arn_key="ProcessingJobArn", step=step.name, **request)  # fmt: skip
        with ctx.reporter.task(f"processing {name} ({count} x {itype})") as task:
            desc = self._wait(
                f"processing job {name}",
                lambda: self._api("sagemaker", "describe_processing_job", step=step.name,
                                  ProcessingJobName=name),
                "ProcessingJobStatus",
                done=("Completed", "Failed", "Stopped"),
                timeout=PROCESSING_MAX_SECONDS + WAIT_MARGIN,
                task=task,
            )  # fmt: skip
        status = desc["ProcessingJobStatus"]
        ctx.ledger.close_resource(
            res.id, status=status, stopped_at=naive_utc(desc.get("ProcessingEndTime"))
        )
        if status != "Completed":
            raise BackendError(
                f"step '{step.name}': processing job {name} {status}: "
                f"{desc.get('FailureReason', 'no reason given')}",
                hint=f"its logs: CloudWatch /aws/sagemaker/ProcessingJobs, stream {name}/*",
            )
        return {"job": name, "output": output, "status": status}

    # --- Inference Recommender ----------------------------------------------------------------

    def inference_recommender(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A recommendation job load-testing the lab's last trained model on `instance_types`
        (a SageMaker model made for it, in the ledger like the deploy step's). Not waited for: a
        Default job runs about 45 minutes, on endpoints SageMaker bills to the account; `down`
        stops it, `status` shows it."""
        s = step.settings
        source = self._model_before(step, ctx)
        if source is None:
            raise BackendError(f"step '{step.name}' needs a train or tune step to have run first")
        types = [str(t) for t in s.get("instance_types", [])] or ["ml.m5.large"]
        job_type = str(s.get("job_type", "Default"))
        if job_type not in RECOMMENDER_TYPES:
            raise BackendError(
                f"step '{step.name}': job_type '{job_type}' is not one of "
                f"{', '.join(RECOMMENDER_TYPES)}"
            )
        model = self._create_model(ctx, step.name, source[0], types[0])  # type: ignore[attr-defined]
        name = sm_name(step.name, ctx.run.id)
        res = self._add(
            ctx, "recommendation-job", name, with_price=False,
            attrs={"step": step.name, "model": model, "instance_types": types},
        )  # fmt: skip
        self._create(
            ctx, res, "create_inference_recommendations_job", status="IN_PROGRESS",
            arn_key="JobArn", step=step.name, JobName=name, JobType=job_type,
            RoleArn=ctx.output("role_arn"),
            InputConfig={
                "ModelName": model,
                "EndpointConfigurations": [{"InstanceType": t} for t in types],
            },
            JobDescription=f"labctl {ctx.lab_name} {step.name}", Tags=tags(ctx),
        )  # fmt: skip
        return {"job": name, "model": model, "instance_types": types}

    # --- Comprehend -------------------------------------------------------------------------

    def comprehend(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """One asynchronous job per name in `features` over the last data step's raw documents
        (one per line), as the component's data access role, writing `comprehend/<step>/
        <feature>/`. Not waited for; `down` stops those still running."""
        s = step.settings
        made = components.step_outputs(ctx.infra, step.name)
        role = made.get("data_access_role_arn")
        if not role:
            raise BackendError(
                f"step '{step.name}': no Comprehend data access role in the Terraform outputs",
                hint="`labctl down` then `labctl up` applies the lab's comprehend component",
            )
        data = next(
            (ctx.results[d.name].get("raw") for d in reversed(ctx.lab.steps)
             if isinstance(d, DataStep) and d.name in ctx.results),
            None,
        )  # fmt: skip
        if data is None:
            raise BackendError(f"step '{step.name}' needs a data step to have run first")
        features = [str(f) for f in s.get("features", ["entities"])]
        unknown = [f for f in features if f not in COMPREHEND_JOBS]
        if unknown:
            raise BackendError(
                f"step '{step.name}': no Comprehend job for {', '.join(unknown)}",
                hint=f"features: {', '.join(COMPREHEND_JOBS)}",
            )
        bucket = ctx.output("bucket")
        jobs = {}
        for feature in features:
            name = sm_name(f"{step.name}-{feature}", ctx.run.id)
            job = COMPREHEND_JOBS[feature]
            output = f"s3://{bucket}/comprehend/{step.name}/{feature}/"
            res = self._add(
                ctx, "comprehend-job", name, with_price=False,
                attrs={"step": step.name, "job": job, "input": data, "output": output},
            )  # fmt: skip
            with ctx.creating(res):
                started = self._api(
                    "comprehend", f"start_{job}_job", step=step.name, JobName=name,
                    InputDataConfig={"S3Uri": data, "InputFormat": "ONE_DOC_PER_LINE"},
                    OutputDataConfig={"S3Uri": output}, DataAccessRoleArn=role,
                    LanguageCode=str(s.get("language_code", "en")), Tags=tags(ctx),
                )  # fmt: skip
            ctx.ledger.update_resource(res.id, status=started.get("JobStatus", "SUBMITTED"),
                                       provider_id=started["JobId"])  # fmt: skip
            jobs[feature] = {"job_id": started["JobId"], "output": output}
        return {"jobs": jobs}


def processing_request(
    name: str, *, role_arn: str, region: str, script: str, code_uri: str,
    inputs: dict[str, tuple[str, str]], output: str, instance_type: str, instance_count: int,
    arguments: list[str], tags: list[dict[str, str]], network: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """CreateProcessingJob's request: python3 runs `script` (uploaded at `code_uri`) in the
    PyTorch image, each of `inputs` (name -> S3 prefix, distribution) at
    /opt/ml/processing/input/<name>, /opt/ml/processing/output uploaded to `output` at the end;
    `network`: the lab VPC's `NetworkConfig` (`secure.processing_network`)."""
    local = f"{PROCESSING_ROOT}/input"
    return {
        "ProcessingJobName": name,
        "RoleArn": role_arn,
        "AppSpecification": {
            "ImageUri": images.framework_uri(PROCESSING_IMAGE, region, instance_type),
            "ContainerEntrypoint": ["python3", f"{local}/code/{script}"],
            **({"ContainerArguments": arguments} if arguments else {}),  # min length 1
        },
        "ProcessingInputs": [
            _input("code", code_uri, f"{local}/code", "FullyReplicated"),
            *(_input(key, uri, f"{local}/{key}", how) for key, (uri, how) in inputs.items()),
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "processed",
            "S3Output": {"S3Uri": output, "LocalPath": f"{PROCESSING_ROOT}/output",
                         "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": instance_count, "InstanceType": instance_type, "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": PROCESSING_MAX_SECONDS},
        "Tags": tags,
        **(network or {}),
    }  # fmt: skip


def _input(name: str, uri: str, local: str, distribution: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }
