"""`service` steps the SageMaker API makes (backends/aws/services.py): a feature group, a model
package group with the lab's model, a processing job. Against moto (ThreadedMotoServer, every
request validated by botocore against the service model) where moto has the API, else at
botocore's request-validation level with the Stubber (deletes of feature groups and model
packages, which moto lacks).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import test_aws
from botocore.stub import ANY
from test_aws import StubPrices, make_ctx, no_sleep, stubbed_backend

from labctl import naming
from labctl.backends.aws import AwsBackend
from labctl.backends.aws import preprocess_job as script
from labctl.ledger import RESOURCE_KINDS
from labctl.naming import TAG_KEYS

pytestmark = pytest.mark.aws
# test_aws's fixtures (moto server, fake credentials, the lab's bucket and role in moto)
moto_server, aws_env, infra = test_aws.moto_server, test_aws.aws_env, test_aws.infra
ROLE = "arn:aws:iam::123456789012:role/lab"


def _step(ctx, name):
    return next(s for s in ctx.lab.steps if s.name == name)


def test_feature_group_is_in_the_ledger_then_in_sagemaker(tmp_path, infra):
    ctx = make_ctx(tmp_path, "mlops-multi-env", infra)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    result = backend.run_step(_step(ctx, "feature-store"), ctx)
    assert result["made_by"] == "sdk" and result["feature_group"].startswith("customer-features-")
    sm = boto3.client("sagemaker", region_name="us-east-1")
    desc = sm.describe_feature_group(FeatureGroupName=result["feature_group"])
    assert desc["RecordIdentifierFeatureName"] == "customer_id"
    assert desc["EventTimeFeatureName"] == "event_time"
    offline = desc["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"]
    assert offline == f"s3://{infra['bucket']}/feature-store/"
    [row] = [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "feature-group"]
    assert (row.name, row.provider_id) == (result["feature_group"], desc["FeatureGroupArn"])


def test_model_registry_registers_the_trained_model_pending_approval(tmp_path, infra):
    ctx = make_ctx(tmp_path, "mlops-multi-env", infra)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    artifact = f"s3://{infra['bucket']}/models/train/output/model.tar.gz"
    ctx.results["train-xgboost"] = {"model_artifact": artifact}
    result = backend.run_step(_step(ctx, "model-registry"), ctx)
    assert result["approval"] == "PendingManualApproval"
    sm = boto3.client("sagemaker", region_name="us-east-1")
    group = result["model_package_group"]
    assert group.startswith("bank-marketing-")
    [package] = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    desc = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    container = desc["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == artifact and "xgboost" in container["Image"]
    kinds = [r.kind for r in ctx.ledger.open_resources(ctx.run.id)]
    assert kinds == ["model-package-group", "model-package"]
    # down deletes the package before its group
    assert RESOURCE_KINDS.index("model-package") < RESOURCE_KINDS.index("model-package-group")


def test_model_registry_without_a_model_makes_only_the_group(tmp_path, infra):
    ctx = make_ctx(tmp_path, "mlops-multi-env", infra)
    result = AwsBackend(sleep=no_sleep).run_step(_step(ctx, "model-registry"), ctx)
    assert "model_package" not in result
    assert [r.kind for r in ctx.ledger.open_resources(ctx.run.id)] == ["model-package-group"]


def test_processing_job_shards_the_data_step_and_closes_its_row(tmp_path, infra):
    ctx = make_ctx(tmp_path, "computer-vision-pipeline", infra)
    ctx.results["vision-data"] = {"s3_uri": f"s3://{infra['bucket']}/data/vision-data/"}
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    result = backend.run_step(_step(ctx, "preprocess"), ctx)
    assert result["status"] == "Completed"
    sm = boto3.client("sagemaker", region_name="us-east-1")
    desc = sm.describe_processing_job(ProcessingJobName=result["job"])
    inputs = {i["InputName"]: i["S3Input"] for i in desc["ProcessingInputs"]}
    assert inputs["data"]["S3DataDistributionType"] == "ShardedByS3Key"
    code = inputs["code"]["S3Uri"].removeprefix(f"s3://{infra['bucket']}/")
    body = boto3.client("s3").get_object(Bucket=infra["bucket"], Key=code)["Body"].read()
    assert body == Path(script.__file__).read_bytes()
    args = desc["AppSpecification"]["ContainerArguments"]
    assert args == ["--augmentations", "flip,random-resized-crop,color-jitter,cutout"]
    [row] = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "processing-job"]
    assert row.status == "Completed" and row.stopped_at is not None
    assert (row.instance_type, row.instance_count) == ("ml.m5.xlarge", 2)
    assert row.price_per_hour is not None  # SageMaker Processing's price, at launch


def test_teardown_deletes_groups_and_packages_at_the_request_level(tmp_path, home):
    backend, stubbers, _ = stubbed_backend("sagemaker")
    ctx = make_ctx(tmp_path, "mlops-multi-env", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"
    rows = [
        ctx.ledger.add_resource(ctx.run, kind="feature-group", name="fg-1"),
        ctx.ledger.add_resource(ctx.run, kind="model-package", name="g/train", provider_id=arn),
        ctx.ledger.add_resource(ctx.run, kind="model-package-group", name="g"),
    ]
    sm = stubbers["sagemaker"]
    sm.add_response("delete_model_package", {}, {"ModelPackageName": arn})
    sm.add_client_error(  # already gone: counts as deleted
        "delete_model_package_group",
        service_error_code="ValidationException",
        service_message="Model Package Group g does not exist.",
        expected_params={"ModelPackageGroupName": "g"},
    )
    sm.add_response("delete_feature_group", {}, {"FeatureGroupName": "fg-1"})
    with sm:
        for row in sorted(rows, key=lambda r: RESOURCE_KINDS.index(r.kind)):
            backend.teardown(row, ctx.ledger)
        sm.assert_no_pending_responses()


def test_a_refused_create_closes_the_row_as_not_created(tmp_path, home):
    backend, stubbers, _ = stubbed_backend("sagemaker")
    ctx = make_ctx(tmp_path, "mlops-multi-env", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    with stubbers["sagemaker"] as sm:
        sm.add_client_error("create_feature_group", service_error_code="ResourceLimitExceeded")
        with pytest.raises(Exception, match="ResourceLimitExceeded"):
            backend.run_step(_step(ctx, "feature-store"), ctx)
    [row] = ctx.ledger.run_resources(ctx.run.id)
    assert (row.kind, row.status) == ("feature-group", "not-created")


def test_feature_group_request_asks_for_the_online_and_offline_stores(tmp_path, home):
    backend, stubbers, _ = stubbed_backend("sagemaker")
    ctx = make_ctx(tmp_path, "mlops-multi-env", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    name = f"customer-features-{ctx.run.id}"
    tags = naming.tags(test_aws.ENGINEER, "mlops-multi-env", ctx.run.id)
    assert set(tags) == set(TAG_KEYS)
    expected = {
        "FeatureGroupName": name,
        "RecordIdentifierFeatureName": "customer_id",
        "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": [
            {"FeatureName": "customer_id", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "String"},
        ],
        "Description": "labctl mlops-multi-env feature-store",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        "OnlineStoreConfig": {"EnableOnlineStore": True},
        "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://b/feature-store/"}},
        "RoleArn": ROLE,
    }
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:feature-group/{name}"
    with stubbers["sagemaker"] as sm:
        sm.add_response("create_feature_group", {"FeatureGroupArn": arn}, expected)
        assert backend.run_step(_step(ctx, "feature-store"), ctx)["arn"] == arn


def test_sdk_kinds_are_not_reported_as_skipped(tmp_path, home):
    ctx = make_ctx(tmp_path, "mlops-multi-env", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    backend, _, _ = stubbed_backend("sagemaker")
    skipped = {f.step for f in backend.check(ctx.lab) if "yet" in f.reason}
    assert not skipped & {"feature-store", "model-registry"}


def test_preprocess_script_copies_and_augments_images(tmp_path) -> None:
    from PIL import Image

    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "cats").mkdir(parents=True)
    Image.new("RGB", (32, 24), (200, 10, 10)).save(src / "cats" / "a.png")
    (src / "labels.csv").write_text("a.png,cat\n")
    names = ["flip", "random-resized-crop", "color-jitter", "cutout"]
    assert script.run(src, dst, names) == {"files": 2, "augmented": 4}
    assert (dst / "labels.csv").read_text() == "a.png,cat\n"
    for name in names:
        with Image.open(dst / "cats" / f"a.{name}.png") as image:
            assert image.size == (32, 24)
    with pytest.raises(ValueError, match="unknown augmentation"):
        script.run(src, tmp_path / "x", ["rotate"])


def test_inference_recommender_load_tests_a_model_of_the_trained_one(tmp_path, home):
    """moto lacks Inference Recommender: the requests are checked by botocore's Stubber."""
    backend, stubbers, _ = stubbed_backend("sagemaker")
    ctx = make_ctx(tmp_path, "churn-pipeline", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    glue = _step(ctx, "glue-etl")
    settings = {"job_type": "Default", "instance_types": ["ml.c5.xlarge", "ml.m5.large"]}
    step = glue.model_copy(
        update={"name": "recommend", "service": "inference-recommender", "settings": settings}
    )
    steps = [s.name for s in ctx.lab.steps]
    ctx.lab.steps.insert(steps.index("tune-xgboost") + 1, step)
    artifact = "s3://b/models/train/output/model.tar.gz"
    ctx.results["tune-xgboost"] = {"model_artifact": artifact}
    model = f"recommend-tune-xgboost-{ctx.run.id}"
    job = f"recommend-{ctx.run.id}"
    arn = "arn:aws:sagemaker:us-east-1:123456789012:"
    with stubbers["sagemaker"] as sm:
        sm.add_response(
            "create_model", {"ModelArn": f"{arn}model/{model}"},
            {"ModelName": model, "PrimaryContainer": {"ModelDataUrl": artifact, "Image": ANY},
             "ExecutionRoleArn": ROLE, "Tags": ANY},
        )  # fmt: skip
        sm.add_response(
            "create_inference_recommendations_job",
            {"JobArn": f"{arn}inference-recommendations-job/{job}"},
            {"JobName": job, "JobType": "Default", "RoleArn": ROLE,
             "InputConfig": {"ModelName": model, "EndpointConfigurations": [
                 {"InstanceType": "ml.c5.xlarge"}, {"InstanceType": "ml.m5.large"}]},
             "JobDescription": "labctl churn-pipeline recommend", "Tags": ANY},
        )  # fmt: skip
        result = backend.run_step(step, ctx)
        sm.assert_no_pending_responses()
    assert result == {"made_by": "sdk", "job": job, "model": model,
                      "instance_types": ["ml.c5.xlarge", "ml.m5.large"]}  # fmt: skip
    rows = {r.kind: r for r in ctx.ledger.open_resources(ctx.run.id)}
    assert set(rows) == {"model", "recommendation-job"}
    # down stops the job (already ended: nothing to stop) before deleting its model
    assert RESOURCE_KINDS.index("recommendation-job") < RESOURCE_KINDS.index("model")
    with stubbers["sagemaker"] as sm:
        sm.add_client_error(
            "stop_inference_recommendations_job", service_error_code="ValidationException",
            service_message="The job is in status COMPLETED and cannot be stopped.",
            expected_params={"JobName": job},
        )  # fmt: skip
        backend.teardown(rows["recommendation-job"], ctx.ledger)
        sm.assert_no_pending_responses()


def test_pipeline_step_is_a_sagemaker_pipeline_of_the_tuned_retraining(tmp_path, infra):
    ctx = make_ctx(tmp_path, "churn-pipeline", infra)
    bucket = infra["bucket"]
    ctx.results["churn-data"] = {"channels": {
        c: f"s3://{bucket}/data/churn-data/{c}/" for c in ("train", "validation")}}  # fmt: skip
    ctx.results["tune-xgboost"] = {"best_hyperparameters": {"max_depth": "7", "eta": "0.2"}}
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    result = backend.run_step(_step(ctx, "retraining-pipeline"), ctx)
    assert result["steps"] == ["tune-xgboost", "endpoint"]
    sm = boto3.client("sagemaker", region_name="us-east-1")
    desc = sm.describe_pipeline(PipelineName=result["pipeline"])
    definition = json.loads(desc["PipelineDefinition"])
    train, model = definition["Steps"]
    assert (train["Type"], model["Type"]) == ("Training", "Model")
    args = train["Arguments"]
    assert args["HyperParameters"]["max_depth"] == "7"  # the tuned value over the train step's
    assert args["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/models/retraining-pipeline/"
    assert args["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        f"s3://{bucket}/data/churn-data/"
    )
    container = model["Arguments"]["PrimaryContainer"]
    assert container["ModelDataUrl"] == {
        "Get": "Steps.tune-xgboost.ModelArtifacts.S3ModelArtifacts"
    }
    assert any("churn-data" in n for n in result["notes"])
    [row] = [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "pipeline"]
    assert row.provider_id == desc["PipelineArn"]
    backend.teardown(row, ctx.ledger)  # down deletes the definition
    with pytest.raises(Exception, match="Could not find pipeline"):
        sm.describe_pipeline(PipelineName=result["pipeline"])


def test_comprehend_jobs_run_as_the_components_role_and_stop_on_down(tmp_path, infra):
    ctx = make_ctx(tmp_path, "document-classification", infra)
    role = infra["role_arn"]  # what the comprehend component outputs, made in moto
    ctx.infra = {**ctx.infra, "components": {"comprehend": {"data_access_role_arn": role}}}
    data = next(s.name for s in ctx.lab.steps if s.kind == "data")
    raw = f"s3://{infra['bucket']}/data/{data}/raw/"
    ctx.results[data] = {"raw": raw}
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    result = backend.run_step(_step(ctx, "comprehend"), ctx)
    assert result["made_by"] == "terraform" and set(result["jobs"]) == {"entities", "sentiment"}
    cmp = boto3.client("comprehend", region_name="us-east-1")
    entities = cmp.describe_entities_detection_job(JobId=result["jobs"]["entities"]["job_id"])
    props = entities["EntitiesDetectionJobProperties"]
    assert props["DataAccessRoleArn"] == role and props["LanguageCode"] == "en"
    assert props["InputDataConfig"]["S3Uri"] == raw
    assert props["OutputDataConfig"]["S3Uri"].endswith("/comprehend/comprehend/entities/")
    rows = [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "comprehend-job"]
    assert sorted((r.attrs or {})["job"] for r in rows) == [
        "entities_detection",
        "sentiment_detection",
    ]
    for row in rows:  # down stops them (moto: still running, or already done)
        backend.teardown(row, ctx.ledger)


def test_comprehend_without_its_component_says_how_to_fix(tmp_path, home):
    backend, _, _ = stubbed_backend("comprehend")
    ctx = make_ctx(tmp_path, "document-classification", {"bucket": "b", "role_arn": ROLE},
                   prices=StubPrices())  # fmt: skip
    with pytest.raises(Exception, match="no Comprehend data access role"):
        backend.run_step(_step(ctx, "comprehend"), ctx)


def test_deequ_step_checks_the_raw_data_in_one_processing_job(tmp_path, infra):
    ctx = make_ctx(tmp_path, "mlops-multi-env", infra)
    data = next(s.name for s in ctx.lab.steps if s.kind == "data")
    raw = f"s3://{infra['bucket']}/data/{data}/raw/"
    ctx.results[data] = {"raw": raw, "s3_uri": f"s3://{infra['bucket']}/data/{data}/"}
    result = AwsBackend(sleep=no_sleep, poll_seconds=0).run_step(_step(ctx, "data-quality"), ctx)
    assert result["status"] == "Completed" and result["output"].endswith("/data-quality/")
    sm = boto3.client("sagemaker", region_name="us-east-1")
    desc = sm.describe_processing_job(ProcessingJobName=result["job"])
    args = desc["AppSpecification"]["ContainerArguments"]
    assert args == ["--checks", "completeness,uniqueness,range", "--fail-on-error"]
    inputs = {i["InputName"]: i["S3Input"] for i in desc["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == raw
    assert inputs["data"]["S3DataDistributionType"] == "FullyReplicated"
    [row] = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "processing-job"]
    assert (row.instance_type, row.instance_count) == ("ml.m5.xlarge", 1)


def test_data_quality_script_finds_gaps_duplicates_and_non_numbers(tmp_path) -> None:
    from labctl.backends.aws import data_quality_job as dq

    good = tmp_path / "good"
    good.mkdir()
    (good / "a.csv").write_text("id,age,city\n1,30,Oslo\n2,41,Rome\n")
    assert all(r["passed"] for r in dq.check(good, list(dq.CHECKS)).values())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.csv").write_text("id,age,city\n1,30,Oslo\n2,,Rome\n")
    (bad / "b.csv").write_text("id,age,city\n1,30,Oslo\n3,inf,Nice\n4,x,Bern\n")
    report = dq.check(bad, list(dq.CHECKS))
    assert report["completeness"] == {"passed": False, "failures": ["age"]}
    assert report["uniqueness"] == {"passed": False, "failures": 1}
    assert report["range"] == {"passed": False, "failures": ["age"]}
    with pytest.raises(ValueError, match="unknown checks"):
        dq.check(good, ["freshness"])
