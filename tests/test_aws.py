"""The aws target against moto (ThreadedMotoServer) and botocore's Stubber.

moto plays SageMaker, S3, IAM and Application Auto Scaling over HTTP, so every request goes
through botocore's validation against the real service model. Jobs complete and endpoints are
InService at once there; billable-time accounting and error mapping use a Stubber on a real
client instead, and the monitoring schedule (not implemented by moto) too.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import boto3
import pytest
from botocore.stub import ANY, Stubber

from labctl import catalog as catalog_mod
from labctl import paths
from labctl.backends.aws import AwsBackend, aws_error, parameter_ranges, sm_name
from labctl.backends.aws import images as aws_algorithms
from labctl.backends.base import Context
from labctl.errors import BackendError, LabctlError
from labctl.ledger import RESOURCE_KINDS, Ledger
from labctl.naming import TAG_KEYS
from labctl.progress import Reporter

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[1]
AWS_LABS = ("churn-pipeline", "fraud-detection", "document-classification")
ENGINEER = "ana@example.com"
ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch, home):
    """Fake credentials and moto's URL for this test; moto reset before it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home.parent / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home.parent / "no-aws-credentials"))
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


@pytest.fixture
def infra(aws_env):
    """What terraform/modules/aws would output, created in moto (its provider can't be fetched)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    bucket = "labctl-ana-lab-1a2b3c4d"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    role = iam.create_role(
        RoleName="labctl-ana-lab-sm-1a2b3c4d", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST)
    )["Role"]
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    # quality.tf: the monitor steps' schedule group and the role their schedules run as
    boto3.client("scheduler", region_name="us-east-1").create_schedule_group(Name="lab-quality")
    quality = iam.create_role(
        RoleName="lab-quality", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST)
    )["Role"]
    return {
        "bucket": bucket,
        "bucket_arn": f"arn:aws:s3:::{bucket}",
        "role_arn": role["Arn"],
        "region": "us-east-1",
        "account_id": account,
        "quality_schedule_group": "lab-quality",
        "quality_role_arn": quality["Arn"],
    }


class StubPrices:
    """A price book with one price per usage (labctl.prices may not exist yet)."""

    PRICES: ClassVar[dict[str, float]] = {
        "training": 0.23,
        "hosting": 0.115,
        "batch-transform": 0.23,
        "processing": 0.115,
    }

    def lookup(self, *, cloud, usage, instance_type, region):
        if usage not in self.PRICES:
            return None
        return SimpleNamespace(usd_per_hour=self.PRICES[usage], source="test price list")


def price_book():
    try:
        from labctl.prices import PriceBook
    except ImportError:
        return StubPrices()
    return PriceBook.load()


def make_ctx(tmp_path, lab_name, infra, *, prices=None, ledger=None):
    cat = catalog_mod.load(REPO / "labs.yaml")
    ledger = ledger or Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run(
        engineer=ENGINEER, lab=lab_name, target="aws", workspace=str(tmp_path), region="us-east-1"
    )
    return Context(
        ledger=ledger,
        run=run,
        lab_name=lab_name,
        lab=cat.lab(lab_name),
        workspace=tmp_path,
        infra=infra,
        prices=prices or price_book(),
        reporter=Reporter(),
        rows=500,
        max_jobs=3,
    )


def no_sleep(seconds):
    raise AssertionError(f"tests never sleep (asked for {seconds} s)")


def tags_of(sm, arn):
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


# --- end to end per AWS ML Specialty lab --------------------------------------------------------


@pytest.mark.parametrize("lab_name", AWS_LABS)
def test_lab_end_to_end_in_moto(tmp_path, infra, lab_name):
    ctx = make_ctx(tmp_path, lab_name, infra)
    # what a comprehend component outputs (Terraform for aws cannot run offline)
    made = {"comprehend": {"data_access_role_arn": infra["role_arn"]}}
    ctx.infra = {**ctx.infra, "components": made}
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    assert not [f for f in backend.check(ctx.lab) if f.fatal]
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))

    sm = boto3.client("sagemaker", region_name="us-east-1")
    expected_tags = {
        "labctl-engineer": "ana-example-com",
        "labctl-lab": lab_name,
        "labctl-run": ctx.run.id,
    }
    arns = {
        "training": [j["TrainingJobArn"] for j in sm.list_training_jobs()["TrainingJobSummaries"]],
        "tuning": [
            j["HyperParameterTuningJobArn"]
            for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
        ],
        "model": [m["ModelArn"] for m in sm.list_models()["Models"]],
        "config": [c["EndpointConfigArn"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "endpoint": [e["EndpointArn"] for e in sm.list_endpoints()["Endpoints"]],
        "batch": [j["TransformJobArn"] for j in sm.list_transform_jobs()["TransformJobSummaries"]],
    }
    assert arns["model"] and arns["config"] and len(arns["endpoint"]) == 1
    for kind, found in arns.items():
        for arn in found:
            assert tags_of(sm, arn) == expected_tags, (kind, arn)

    # The ledger has a row per created resource, billable ones priced with their instance type.
    rows = ctx.ledger.run_resources(ctx.run.id)
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)
    assert len(by_kind["training-job"]) == len(arns["training"])
    assert len(by_kind.get("tuning-job", [])) == len(arns["tuning"])
    assert len(by_kind["model"]) == len(arns["model"])
    assert len(by_kind["endpoint-config"]) == len(arns["config"])
    assert len(by_kind["endpoint"]) == 1
    assert len(by_kind.get("batch-job", [])) == len(arns["batch"])
    for r in rows:
        assert (r.region == "us-east-1" and r.provider_id) or r.status == "not-created"
        if r.kind in ("training-job", "tuning-job", "endpoint", "batch-job"):
            assert r.instance_type and r.instance_count >= 1
            usage = {"endpoint": "hosting", "batch-job": "batch-transform"}.get(r.kind, "training")
            price = ctx.prices.lookup(
                cloud="aws", usage=usage, instance_type=r.instance_type, region="us-east-1"
            )
            if price is not None:
                assert r.price_per_hour == pytest.approx(price.usd_per_hour)
    for r in by_kind["training-job"]:
        assert r.status == "Completed" and not r.is_open and r.spot

    # Per-lab specifics.
    endpoint = ctx.results["endpoint"]
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["endpoint_config"])
    variants = config["ProductionVariants"]
    s3 = boto3.client("s3", region_name="us-east-1")
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=infra["bucket"])["Contents"]]
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    if lab_name == "churn-pipeline":
        assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
        assert (
            config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{infra['bucket']}/datacapture"
        )
        targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        assert [t["ResourceId"] for t in targets] == [
            f"endpoint/{endpoint['endpoint']}/variant/AllTraffic"
        ]
        assert len(by_kind["scaling-policy"]) == 1
        tuning = sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=ctx.results["tune-xgboost"]["tuning_job"]
        )
        cfg = tuning["HyperParameterTuningJobConfig"]
        assert cfg["Strategy"] == "Bayesian" and cfg["TrainingJobEarlyStoppingType"] == "Auto"
        assert cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 3
        assert tuning["TrainingJobDefinition"]["EnableManagedSpotTraining"] is True
        # trials share the definition: no shared checkpoint prefix, so the no-checkpoint limit
        assert not tuning["TrainingJobDefinition"].get("CheckpointConfig")
        assert tuning["TrainingJobDefinition"]["StoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
        assert any(k.startswith("data/churn-data/baseline/constraints.json") for k in objects)
        # moto lacks CreateMonitoringSchedule, as an account closed to Model Monitor is refused
        # it: data quality joins model quality in the scheduled processing jobs (quality.py)
        monitor = ctx.results["model-monitor"]
        assert monitor["checks"] == ["data-quality", "model-quality"]
        (schedule_row,) = by_kind["monitoring-schedule"]
        assert schedule_row.status == "not-created"
        assert not sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
        (quality_row,) = by_kind["quality-schedule"]
        assert quality_row.is_open and quality_row.status == "ENABLED"
        assert quality_row.name == monitor["quality_schedule"]
        assert quality_row.price_per_hour is not None and quality_row.instance_type
        # a SageMaker Pipeline retraining with the tuned values (test_components_sdk.py)
        assert ctx.results["retraining-pipeline"]["steps"] == ["tune-xgboost", "endpoint"]
        assert ctx.results["firehose-ingest"]["made_by"] == "terraform"  # a component
    if lab_name == "fraud-detection":
        assert {(v["VariantName"], v["InitialVariantWeight"]) for v in variants} == {
            ("rcf-current", 0.9),
            ("xgboost-challenger", 0.1),
        }
        rcf = sm.describe_training_job(TrainingJobName=ctx.results["train-rcf"]["job"])
        channels = {c["ChannelName"]: c for c in rcf["InputDataConfig"]}
        assert set(channels) == {"train", "test"}
        train_source = channels["train"]["DataSource"]["S3DataSource"]
        assert train_source["S3DataDistributionType"] == "ShardedByS3Key"
        assert train_source["S3Uri"].endswith("/train-features/")
        assert channels["test"]["ContentType"] == "text/csv;label_size=1"
        assert rcf["StoppingCondition"]["MaxWaitTimeInSeconds"] == 3600  # no checkpoints
        xgb = sm.describe_training_job(TrainingJobName=ctx.results["train-xgboost"]["job"])
        assert xgb["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200  # it checkpoints
        assert xgb["CheckpointConfig"]["S3Uri"].endswith(f"/checkpoints/{xgb['TrainingJobName']}/")
        assert "monitoring-schedule" not in by_kind  # model-quality only: no Model Monitor
        assert ctx.results["model-monitor"]["checks"] == ["model-quality"]
        assert by_kind["quality-schedule"][0].status == "ENABLED"
        assert rcf["AlgorithmSpecification"]["TrainingImage"] == aws_algorithms.image_uri(
            "random-cut-forest", "us-east-1"
        )
        features = (
            s3.get_object(
                Bucket=infra["bucket"], Key="data/fraud-data/train-features/creditcard.csv"
            )["Body"]
            .read()
            .decode()
        )
        assert len(features.splitlines()[0].split(",")) == 30  # the label column is gone
        (ep_row,) = by_kind["endpoint"]
        assert ep_row.instance_count == 2 and ep_row.instance_type == "ml.c5.large"
    if lab_name == "document-classification":
        assert not config.get("DataCaptureConfig")
        train = sm.describe_training_job(TrainingJobName=ctx.results["train-blazingtext"]["job"])
        assert {c["ContentType"] for c in train["InputDataConfig"]} == {"text/plain"}
        # BlazingText does not checkpoint: SageMaker refuses a spot wait over an hour (2h asked)
        assert train["StoppingCondition"] == {
            "MaxRuntimeInSeconds": 3600,
            "MaxWaitTimeInSeconds": 3600,
        }
        assert train["EnableManagedSpotTraining"] and not train.get("CheckpointConfig")
        assert train["HyperParameters"]["mode"] == "supervised"
        batch = sm.describe_transform_job(TransformJobName=ctx.results["batch-transform"]["job"])
        assert batch["TransformInput"]["ContentType"] == "application/jsonlines"
        assert batch["TransformInput"]["SplitType"] == "Line"
        line = (
            s3.get_object(
                Bucket=infra["bucket"], Key="data/newsgroups-data/batch-input/newsgroups.jsonl"
            )["Body"]
            .read()
            .decode()
            .splitlines()[0]
        )
        assert "__label__" not in line and json.loads(line)["source"]
        (batch_row,) = by_kind["batch-job"]
        assert batch_row.instance_type == "ml.m5.xlarge" and not batch_row.is_open

    # Teardown in the orchestrator's order, then again: nothing of the lab is left, twice.
    ledger = ctx.ledger
    planned = sorted(ledger.open_resources(ctx.run.id), key=lambda r: RESOURCE_KINDS.index(r.kind))
    kinds = [r.kind for r in planned]
    assert kinds.index("endpoint") < kinds.index("model")  # what hangs on an endpoint goes first
    assert all(kinds.index(k) < kinds.index("endpoint") for k in ("scaling-policy",) if k in kinds)
    for r in planned:
        backend.teardown(r, ledger)
        ledger.close_resource(r.id, status="deleted")
    assert not sm.list_endpoints()["Endpoints"]
    assert not sm.list_endpoint_configs()["EndpointConfigs"]
    assert not sm.list_models()["Models"]
    assert not aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert not aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert not ledger.open_resources(ctx.run.id)
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    assert not scheduler.list_schedules(GroupName="lab-quality")["Schedules"]
    for r in ledger.run_resources(ctx.run.id):
        backend.teardown(r, ledger)  # idempotent: already gone counts as deleted


def test_warm_start_uses_the_previous_tuning_job_of_the_lab(tmp_path, infra):
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    first = make_ctx(tmp_path, "document-classification", infra)
    steps = {s.name: s for s in first.lab.steps}
    for name in ("newsgroups-data", "train-blazingtext", "tune-blazingtext"):
        first.record(steps[name], backend.run_step(steps[name], first))
    tune = steps["tune-blazingtext"].model_copy(update={"warm_start": True})
    second = make_ctx(tmp_path, "document-classification", infra, ledger=first.ledger)
    for name in ("newsgroups-data", "train-blazingtext"):
        second.record(steps[name], backend.run_step(steps[name], second))
    result = backend.run_step(tune, second)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=result["tuning_job"])
    assert desc["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": first.results["tune-blazingtext"]["tuning_job"]}
        ],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert len(result["tuning_job"]) <= 32


def test_service_steps_are_components_or_skipped_never_refused(tmp_path, infra):
    """Issue 16: a service step the lab's Terraform makes returns that component's outputs; one
    labctl does not make is skipped with a warning, even when required: the ML path still runs."""
    ctx = make_ctx(tmp_path, "churn-pipeline", infra)
    ctx.infra = {**ctx.infra, "components": {"glue-etl": {"job_name": "labctl-glue"}}}
    backend = AwsBackend(sleep=no_sleep)
    glue = next(s for s in ctx.lab.steps if s.name == "glue-etl")
    assert backend.run_step(glue, ctx) == {"made_by": "terraform", "job_name": "labctl-glue"}
    other = glue.model_copy(update={"name": "budget", "service": "aws-budgets", "optional": False})
    assert "not provisioned" in backend.run_step(other, ctx)["skipped"]
    findings = backend.check(ctx.lab.model_copy(update={"steps": [glue, other]}))
    assert [(f.step, f.fatal) for f in findings] == [("budget", False)]


def test_invoke_and_live_status(tmp_path, infra):
    ctx = make_ctx(tmp_path, "churn-pipeline", infra)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    for step in ctx.lab.steps:  # up to the endpoint
        ctx.record(step, backend.run_step(step, ctx))
        if step.name == "endpoint":
            break
    endpoint = next(r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "endpoint")
    assert backend.live_status(endpoint) == "InService"
    assert backend.invoke(endpoint, b"1,2,3", "text/csv", "text/csv")  # moto's canned answer
    backend.teardown(endpoint, ctx.ledger)
    assert backend.live_status(endpoint) == "gone"


# --- spot accounting: billable time, not the interval -------------------------------------------


def describe_job(name, status, secondary, **extra):
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/models/{name}/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        "CreationTime": datetime.now(UTC),
        **extra,
    }


def stubbed_backend(*services):
    """A backend whose clients for `services` are real botocore clients under a Stubber."""
    clients, stubbers = {}, {}
    for service in services:
        client = boto3.client(
            service,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        clients[service] = client
        stubbers[service] = Stubber(client)
    sleeps = []
    clock = SimpleNamespace(now=0.0)

    def sleep(seconds):
        sleeps.append(seconds)
        clock.now += seconds

    backend = AwsBackend(clients=clients, sleep=sleep, clock=lambda: clock.now, poll_seconds=30)
    return backend, stubbers, sleeps


def train_ctx(tmp_path, lab="churn-pipeline"):
    """A churn-pipeline context whose data step has run (no AWS behind it: use a Stubber)."""
    infra = {
        "bucket": "lab-bucket",
        "role_arn": "arn:aws:iam::123456789012:role/lab",
        "region": "us-east-1",
        "account_id": "123456789012",
    }
    ctx = make_ctx(tmp_path, lab, infra, prices=StubPrices())
    ctx.results["churn-data"] = {
        "channels": {
            "train": "s3://lab-bucket/data/churn-data/train/",
            "validation": "s3://lab-bucket/data/churn-data/validation/",
        }
    }
    return ctx


def test_spot_training_is_billed_by_billable_seconds(tmp_path, home):
    ctx = train_ctx(tmp_path)
    step = ctx.lab.step("train-xgboost")
    backend, stubs, sleeps = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    name = sm_name("train-xgboost", ctx.run.id)
    sm.add_response(
        "create_training_job",
        {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"},
        {
            "TrainingJobName": name,
            "HyperParameters": ANY,
            "AlgorithmSpecification": {
                "TrainingImage": aws_algorithms.image_uri("xgboost", "us-east-1"),
                "TrainingInputMode": "File",
            },
            "RoleArn": "arn:aws:iam::123456789012:role/lab",
            "InputDataConfig": ANY,
            "OutputDataConfig": {"S3OutputPath": "s3://lab-bucket/models/"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "EnableManagedSpotTraining": True,
            "CheckpointConfig": {"S3Uri": f"s3://lab-bucket/checkpoints/{name}/"},
            "Tags": [
                {"Key": "labctl-engineer", "Value": "ana-example-com"},
                {"Key": "labctl-lab", "Value": "churn-pipeline"},
                {"Key": "labctl-run", "Value": ctx.run.id},
            ],
        },
    )
    start = datetime.now(UTC) - timedelta(hours=1)
    sm.add_response("describe_training_job", describe_job(name, "InProgress", "Starting"))
    sm.add_response("describe_training_job", describe_job(name, "InProgress", "Training"))
    sm.add_response(
        "describe_training_job",
        describe_job(
            name,
            "Completed",
            "Completed",
            BillableTimeInSeconds=180,
            TrainingTimeInSeconds=600,
            TrainingStartTime=start,
            TrainingEndTime=start + timedelta(hours=1),
            FinalMetricDataList=[{"MetricName": "validation:auc", "Value": 0.91}],
        ),
    )
    with sm:
        result = backend.run_step(step, ctx)
        sm.assert_no_pending_responses()
    assert sleeps == [30, 30]  # polled three times, never really slept
    assert result["metrics"] == {"validation:auc": 0.91}
    assert result["spot_savings"] == pytest.approx(0.7)
    (res,) = ctx.ledger.run_resources(ctx.run.id)
    assert res.kind == "training-job" and res.spot and res.status == "Completed"
    assert res.billable_seconds == 180
    assert res.cost() == pytest.approx(0.23 * 180 / 3600)
    interval = (res.stopped_at - res.started_at).total_seconds()
    assert 0.23 * interval / 3600 != pytest.approx(res.cost())  # not the interval's cost
    assert res.attrs["model_artifact"].endswith(f"{name}/output/model.tar.gz")


def test_training_wait_times_out(tmp_path, home):
    ctx = train_ctx(tmp_path)
    step = ctx.lab.step("train-xgboost").model_copy(update={"spot": False, "max_wait": None})
    backend, stubs, _ = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    name = sm_name("train-xgboost", ctx.run.id)
    sm.add_response("create_training_job", {"TrainingJobArn": "arn:x"})
    backend.poll_seconds = 3000
    for _ in range(3):  # 3600 s runtime + 900 s margin: polls at 0, 3000 and 6000 s
        sm.add_response("describe_training_job", describe_job(name, "InProgress", "Training"))
    with sm, pytest.raises(BackendError, match="still InProgress") as err:
        backend.run_step(step, ctx)
    assert "labctl down churn-pipeline" in err.value.hint  # the job is still open in the ledger


def test_throttled_polls_back_off_instead_of_aborting(tmp_path, home):
    ctx = train_ctx(tmp_path)
    step = ctx.lab.step("train-xgboost")
    backend, stubs, sleeps = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    name = sm_name("train-xgboost", ctx.run.id)
    sm.add_response("create_training_job", {"TrainingJobArn": "arn:x"})
    for _ in range(3):  # botocore's own retries are spent: the describe call itself fails
        sm.add_client_error(
            "describe_training_job",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
    sm.add_response(
        "describe_training_job",
        describe_job(name, "Completed", "Completed", BillableTimeInSeconds=60),
    )
    with sm:
        result = backend.run_step(step, ctx)
        sm.assert_no_pending_responses()
    assert result["status"] == "Completed"
    assert sleeps == [60, 120, 240]  # exponential backoff from the 30 s poll
    sm.add_response("create_training_job", {"TrainingJobArn": "arn:x"})
    for _ in range(9):  # throttled on every poll: it gives up after 8 retries, saying why
        sm.add_client_error(
            "describe_training_job", service_error_code="ThrottlingException", http_status_code=400
        )
    with sm, pytest.raises(BackendError, match="ThrottlingException") as err:
        backend.run_step(step, ctx)
    sm.assert_no_pending_responses()
    assert "throttling" in err.value.hint


def test_failed_training_names_the_step_and_reason(tmp_path, home):
    ctx = train_ctx(tmp_path)
    step = ctx.lab.step("train-xgboost")
    backend, stubs, _ = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    name = sm_name("train-xgboost", ctx.run.id)
    sm.add_response("create_training_job", {"TrainingJobArn": "arn:x"})
    sm.add_response(
        "describe_training_job",
        describe_job(name, "Failed", "Failed", FailureReason="ClientError: bad csv"),
    )
    with sm, pytest.raises(BackendError, match=r"train-xgboost.*Failed: ClientError: bad csv"):
        backend.run_step(step, ctx)
    (res,) = ctx.ledger.run_resources(ctx.run.id)
    assert res.status == "Failed" and not res.is_open


# --- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.m5.xlarge for spot training job usage' is 0",
            "quota increase",
        ),
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: "
            "sagemaker:CreateTrainingJob on resource: x",
            "`sagemaker:CreateTrainingJob`",
        ),
        (
            "ExpiredTokenException",
            "The security token included in the request is expired",
            "aws sso login",
        ),
        ("ValidationException", "MaxWaitTimeInSeconds must be >= MaxRuntime", "MaxWaitTime"),
    ],
)
def test_client_errors_become_backend_errors(tmp_path, home, code, message, hint):
    ctx = train_ctx(tmp_path)
    step = ctx.lab.step("train-xgboost")
    backend, stubs, _ = stubbed_backend("sagemaker")
    stubs["sagemaker"].add_client_error(
        "create_training_job", service_error_code=code, service_message=message
    )
    with stubs["sagemaker"], pytest.raises(BackendError) as err:
        backend.run_step(step, ctx)
    assert "step 'train-xgboost'" in err.value.message
    assert code in err.value.message and "CreateTrainingJob" in err.value.message
    assert hint in err.value.hint
    (res,) = ctx.ledger.run_resources(ctx.run.id)
    assert res.status == "not-created" and not res.is_open  # ledger first, closed on failure


def test_access_denied_without_a_named_permission_names_the_operation():
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutScalingPolicy"
    )
    err = aws_error(exc, service="application-autoscaling", step="endpoint")
    assert "`application-autoscaling:PutScalingPolicy`" in err.hint


def test_unknown_region_is_a_clear_error():
    with pytest.raises(LabctlError) as err:
        aws_algorithms.image_uri("xgboost", "mars-north-1")
    assert "mars-north-1" in err.value.message
    assert "us-east-1" in err.value.hint and "eu-west-1" in err.value.hint
    assert aws_algorithms.image_uri("blazingtext", "cn-north-1").endswith(
        ".amazonaws.com.cn/blazingtext:1"
    )
    cat = catalog_mod.load(REPO / "labs.yaml")
    session = SimpleNamespace(region_name="mars-north-1")
    backend = AwsBackend(session=session)
    findings = backend.check(cat.lab("churn-pipeline"))
    assert any(f.fatal and "mars-north-1" in f.reason for f in findings)


# --- pieces moto cannot check -------------------------------------------------------------------


def test_monitoring_schedule_request_shape(tmp_path, home):
    ctx = train_ctx(tmp_path)
    # data quality alone: model quality runs as scheduled processing jobs (test_aws_quality.py)
    step = ctx.lab.step("model-monitor").model_copy(update={"checks": ["data-quality"]})
    ctx.results["churn-data"]["baseline"] = "s3://lab-bucket/data/churn-data/baseline/"
    ctx.results["endpoint"] = {"endpoint": "endpoint-r1"}
    backend, stubs, _ = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    name = sm_name("model-monitor", ctx.run.id)
    definition = sm_name("model-monitor", ctx.run.id, suffix="dq")
    sm.add_response(
        "create_data_quality_job_definition", {"JobDefinitionArn": "arn:def"}, {
            "JobDefinitionName": definition,
            "DataQualityBaselineConfig": {
                "ConstraintsResource": {
                    "S3Uri": "s3://lab-bucket/data/churn-data/baseline/constraints.json"
                },
                "StatisticsResource": {
                    "S3Uri": "s3://lab-bucket/data/churn-data/baseline/statistics.json"
                },
            },
            "DataQualityAppSpecification": {
                "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/"
                "sagemaker-model-monitor-analyzer:latest"
            },
            "DataQualityJobInput": ANY,
            "DataQualityJobOutputConfig": ANY,
            "JobResources": ANY,
            "RoleArn": "arn:aws:iam::123456789012:role/lab",
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
            "Tags": ANY,
        },
    )  # fmt: skip
    sm.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": "arn:schedule"},
        {
            "MonitoringScheduleName": name,
            "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                "MonitoringJobDefinitionName": definition,
                "MonitoringType": "DataQuality",
            },
            "Tags": ANY,
        },
    )
    now = datetime.now(UTC)
    for status in ("Pending", "Scheduled"):
        sm.add_response(
            "describe_monitoring_schedule",
            {
                "MonitoringScheduleArn": "arn:schedule",
                "MonitoringScheduleName": name,
                "MonitoringScheduleStatus": status,
                "CreationTime": now,
                "LastModifiedTime": now,
                "MonitoringScheduleConfig": {},
            },
        )
    with sm:
        result = backend.run_step(step, ctx)
        sm.assert_no_pending_responses()
    assert result["status"] == "Scheduled" and result["checks"] == ["data-quality"]
    (res,) = ctx.ledger.run_resources(ctx.run.id)
    assert res.kind == "monitoring-schedule" and res.price_per_hour == 0.115


def test_teardown_stops_jobs_still_running(tmp_path, home):
    ctx = train_ctx(tmp_path)
    backend, stubs, sleeps = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    job = ctx.ledger.add_resource(ctx.run, kind="training-job", name="job-1", region="us-east-1")
    end = datetime(2026, 11, 19, 10, 5, tzinfo=UTC)
    sm.add_response("describe_training_job", describe_job("job-1", "InProgress", "Training"))
    sm.add_response("stop_training_job", {}, {"TrainingJobName": "job-1"})
    # SageMaker gives the stopped job up to 120 s to upload its artifacts: down waits for it
    sm.add_response("describe_training_job", describe_job("job-1", "Stopping", "Stopping"))
    sm.add_response(
        "describe_training_job",
        describe_job("job-1", "Stopped", "Stopped", BillableTimeInSeconds=95, TrainingEndTime=end),
    )
    sm.add_client_error(  # already gone the second time
        "describe_training_job",
        service_error_code="ValidationException",
        service_message="Requested resource not found.",
    )
    with sm:
        backend.teardown(job, ctx.ledger)
        (row,) = ctx.ledger.run_resources(ctx.run.id)
        assert row.status == "Stopped" and row.billable_seconds == 95
        assert row.stopped_at == datetime(2026, 11, 19, 10, 5)  # the job's end, not "now"
        assert sleeps == [30]
        backend.teardown(job, ctx.ledger)
        sm.assert_no_pending_responses()


def test_teardown_of_a_job_that_will_not_stop_leaves_its_row_open(tmp_path, home):
    ctx = train_ctx(tmp_path)
    backend, stubs, sleeps = stubbed_backend("sagemaker")
    sm = stubs["sagemaker"]
    job = ctx.ledger.add_resource(ctx.run, kind="tuning-job", name="tune-1", region="us-east-1")
    stopping = {
        "HyperParameterTuningJobName": "tune-1",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
        "hyper-parameter-tuning-job/tune-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxParallelTrainingJobs": 1},
        },
        "HyperParameterTuningJobStatus": "Stopping",
        "CreationTime": datetime(2026, 11, 19, 10, tzinfo=UTC),
        "TrainingJobStatusCounters": {},
        "ObjectiveStatusCounters": {},
    }
    for _ in range(12):  # the first look, then polls every 30 s for 300 s
        sm.add_response("describe_hyper_parameter_tuning_job", stopping)
    with sm, pytest.raises(BackendError, match="still Stopping"):
        backend.teardown(job, ctx.ledger)
    assert sum(sleeps) == 300
    (row,) = ctx.ledger.run_resources(ctx.run.id)
    assert row.is_open  # it may still bill: the ledger does not close it


# --- configuration ------------------------------------------------------------------------------


def test_provider_backend_and_module_inputs(home, monkeypatch, tmp_path):
    from labctl import config

    backend = AwsBackend(session=SimpleNamespace(region_name="eu-west-1"))
    tags = {"labctl-engineer": "ana", "labctl-lab": "x", "labctl-run": "r1"}
    assert backend.provider_config(tags) == {
        "aws": {"region": "eu-west-1", "default_tags": {"tags": tags}}
    }
    assert backend.backend_config("ana@example.com", "churn-pipeline") is None
    assert backend.module_inputs(tmp_path)["scratch_expiry_days"] == 7
    assert "randomcutforest" in backend.module_inputs(tmp_path)["prebuilt_image_repositories"]
    cfg = tmp_path / "labctl.toml"
    cfg.write_text('[aws]\nstate_bucket = "team-state"\nstate_lock_table = "team-lock"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
    config.settings.cache_clear()
    try:
        s3 = backend.backend_config("ana@example.com", "churn-pipeline")["s3"]
        # a look-alike identity (issue 11: one engineer, one workspace) gets its own state
        other = backend.backend_config("ana@example-com", "churn-pipeline")["s3"]
    finally:
        config.settings.cache_clear()
    assert s3 == {
        "bucket": "team-state",
        "key": f"labctl/{paths.engineer_folder('ana@example.com')}/churn-pipeline/aws/"
        "terraform.tfstate",
        "region": "eu-west-1",
        "encrypt": True,
        "use_lockfile": True,  # the engine is Terraform >= 1.10
        "dynamodb_table": "team-lock",  # as configured, beside the lock file
    }
    assert other["key"] != s3["key"]


def test_parameter_ranges_and_names():
    cat = catalog_mod.load(REPO / "labs.yaml")
    tune = cat.lab("document-classification").step("tune-blazingtext")
    ranges = parameter_ranges(tune)
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "learning_rate", "MinValue": "0.005", "MaxValue": "0.1",
         "ScalingType": "Logarithmic"}
    ]  # fmt: skip
    assert {r["Name"] for r in ranges["IntegerParameterRanges"]} == {"epochs", "word_ngrams"}
    assert len(sm_name("a" * 48, "r1a2b3c4d", limit=32)) <= 32
    assert sm_name("a" * 48, "r1a2b3c4d", limit=32) != sm_name(
        "a" * 47 + "b", "r1a2b3c4d", limit=32
    )


def test_doctor(aws_env):
    from labctl.backends.aws import doctor

    lines = {name: (ok, detail) for name, ok, detail in doctor()}
    assert lines["credentials"][0] and "testing" not in lines["credentials"][1]
    assert lines["account"] == (True, lines["account"][1]) and "123456789012" in lines["account"][1]
    assert lines["region"] == (True, "us-east-1")
    empty = SimpleNamespace(get_credentials=lambda: None, region_name=None)
    lines = {name: (ok, detail) for name, ok, detail in doctor(empty)}
    assert not lines["credentials"][0] and "aws sso login" in lines["credentials"][1]
    assert not lines["region"][0] and "AWS_REGION" in lines["region"][1]
    assert "account" not in lines


def test_tag_keys_are_the_labctl_ones():
    assert TAG_KEYS == ("labctl-engineer", "labctl-lab", "labctl-run")
