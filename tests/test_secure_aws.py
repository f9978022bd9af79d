"""The secure lab on the aws target against moto: SageMaker jobs and models in the lab VPC's
private subnets (network isolation, inter-container encryption), and the model artifact signed
with the kms-signing key after training, verified before deploying (backends/aws/secure.py).

The components' Terraform outputs are made in moto (a VPC, subnets, a security group, an
asymmetric SIGN_VERIFY key) and passed as the root module's `components` output.
"""

from __future__ import annotations

import hashlib

import boto3
import pytest
from test_aws import aws_env, infra, make_ctx, moto_server  # noqa: F401
from test_aws_scriptmode import backend_capturing, record_data

from labctl.backends.aws import secure
from labctl.errors import BackendError

pytestmark = pytest.mark.aws
LAB = "secure-ml-pipeline"


@pytest.fixture
def secure_infra(infra):  # noqa: F811
    """module.lab's outputs plus the vpc-isolation and model-signing components', in moto."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in range(2)
    ]
    group = ec2.create_security_group(GroupName="lab", Description="lab", VpcId=vpc)["GroupId"]
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256"
    )["KeyMetadata"]["Arn"]
    components = {
        "vpc-isolation": {"vpc_id": vpc, "subnet_ids": subnets, "security_group_id": group},
        "model-signing": {
            "key_arn": key,
            "signing_algorithm": "ECDSA_SHA_256",
            "verify_before_deploy": True,
        },
    }
    return {**infra, "components": components}


def _put(uri: str, body: bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=body)


def _trained(tmp_path, secure_infra):
    """The secure lab's train step run in moto, its artifact in the bucket before it is signed."""
    ctx = make_ctx(tmp_path, LAB, secure_infra)
    record_data(ctx, "customer-records", secure_infra["bucket"])
    backend, sent = backend_capturing()
    original = backend._finish_training

    def finish(ctx_, step_name, res, desc):  # the job "writes" its model before it is signed
        result = original(ctx_, step_name, res, desc)
        _put(result["model_artifact"], b"model bytes")
        return result

    backend._finish_training = finish
    step = ctx.lab.step("train-xgboost")
    ctx.record(step, backend.train(step=step, ctx=ctx))
    return ctx, backend, sent


def test_secure_training_job_runs_isolated_in_the_lab_vpc(tmp_path, secure_infra):
    _, _, sent = _trained(tmp_path, secure_infra)
    [req] = sent["CreateTrainingJob"]
    made = secure_infra["components"]["vpc-isolation"]
    assert req["VpcConfig"] == {
        "SecurityGroupIds": [made["security_group_id"]],
        "Subnets": made["subnet_ids"],
    }
    assert req["EnableNetworkIsolation"] is True
    assert req["EnableInterContainerTrafficEncryption"] is True
    desc = boto3.client("sagemaker", region_name="us-east-1").describe_training_job(
        TrainingJobName=req["TrainingJobName"]
    )
    assert desc["VpcConfig"]["Subnets"] == made["subnet_ids"]


def test_training_is_signed_and_the_deploy_verifies_then_makes_an_isolated_model(
    tmp_path, secure_infra
):
    ctx, backend, sent = _trained(tmp_path, secure_infra)
    result = ctx.results["train-xgboost"]

    assert result["artifact_digest"] == "sha256:" + hashlib.sha256(b"model bytes").hexdigest()
    assert result["signing_key"] == secure_infra["components"]["model-signing"]["key_arn"]
    assert result["signing_algorithm"] == "ECDSA_SHA_256" and result["signature"]

    out = backend.deploy(step=ctx.lab.step("endpoint"), ctx=ctx)
    assert out["endpoint"]
    [model] = sent["CreateModel"]
    made = secure_infra["components"]["vpc-isolation"]
    assert model["EnableNetworkIsolation"] is True
    assert model["VpcConfig"] == {
        "SecurityGroupIds": [made["security_group_id"]],
        "Subnets": made["subnet_ids"],
    }
    assert "EnableInterContainerTrafficEncryption" not in model


def test_a_tampered_artifact_is_refused_at_deploy(tmp_path, secure_infra):
    ctx, backend, sent = _trained(tmp_path, secure_infra)
    _put(ctx.results["train-xgboost"]["model_artifact"], b"model bytes, then a backdoor")
    with pytest.raises(BackendError) as err:
        backend.deploy(step=ctx.lab.step("endpoint"), ctx=ctx)
    assert "step 'endpoint'" in err.value.message and "does not verify" in err.value.message
    assert "CreateModel" not in sent  # nothing made from it


def test_an_unsigned_model_is_refused_at_deploy(tmp_path, secure_infra):
    ctx, backend, sent = _trained(tmp_path, secure_infra)
    unsigned = dict(ctx.results["train-xgboost"])
    del unsigned["signature"]
    ctx.results["train-xgboost"] = unsigned
    with pytest.raises(BackendError, match="is not signed"):
        backend.deploy(step=ctx.lab.step("endpoint"), ctx=ctx)
    assert "CreateModel" not in sent


def test_a_lab_without_vpc_or_signing_steps_sends_the_same_requests(tmp_path, infra):  # noqa: F811
    ctx = make_ctx(tmp_path, "fraud-detection", infra)
    step = ctx.lab.step("train-xgboost")
    record_data(ctx, step.data, infra["bucket"])
    backend, sent = backend_capturing()
    result = backend.train(step=step, ctx=ctx)
    [req] = sent["CreateTrainingJob"]
    for field in ("VpcConfig", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption"):
        assert field not in req
    assert "signature" not in result


def test_the_digest_matches_the_signing_algorithm():
    assert secure.digest_hash("ECDSA_SHA_256") == "sha256"
    assert secure.digest_hash("RSASSA_PSS_SHA_384") == "sha384"
    assert secure.digest_hash("ECDSA_SHA_512") == "sha512"


def test_a_tuning_jobs_training_definition_runs_isolated_in_the_lab_vpc(
    tmp_path,
    secure_infra,
):
    from labctl.catalog import ServiceStep

    ctx = make_ctx(tmp_path, "churn-pipeline", secure_infra)
    lab = ctx.lab.model_copy(deep=True)
    lab.steps.insert(0, ServiceStep(name="vpc-isolation", kind="service", service="vpc"))
    ctx.lab = lab
    train = ctx.lab.step("train-xgboost")
    record_data(ctx, train.data, secure_infra["bucket"])
    backend, sent = backend_capturing()
    backend.tune(step=ctx.lab.step("tune-xgboost"), ctx=ctx)
    [req] = sent["CreateHyperParameterTuningJob"]
    definition = req["TrainingJobDefinition"]
    made = secure_infra["components"]["vpc-isolation"]
    assert definition["VpcConfig"]["Subnets"] == made["subnet_ids"]
    assert definition["EnableNetworkIsolation"] is True
    assert definition["EnableInterContainerTrafficEncryption"] is True


def test_the_vpc_component_lets_the_lab_role_make_sagemakers_network_interfaces():
    from test_aws import REPO

    from labctl import catalog, components
    from labctl.terraform import Expr

    lab = catalog.load(REPO / "labs.yaml").lab(LAB)
    vpc = components.blocks(lab)["vpc-isolation"]
    assert vpc["role_arn"] == Expr("${module.lab.role_arn}")
    main = (REPO / "terraform/modules/aws-components/vpc/main.tf").read_text()
    assert '"ec2:CreateNetworkInterface"' in main and 'resource "aws_iam_role_policy"' in main


def test_processing_and_quality_jobs_run_isolated_in_the_lab_vpc(tmp_path, secure_infra):
    """A processing job (a service step's, a monitor step's scheduled quality check, a Model
    Monitor job definition) gets the lab VPC as its NetworkConfig; moto accepts the request."""
    from labctl.backends.aws.services import processing_request

    ctx = make_ctx(tmp_path, LAB, secure_infra)
    made = secure_infra["components"]["vpc-isolation"]
    network = secure.processing_network(ctx)
    assert network == {
        "NetworkConfig": {
            "VpcConfig": {"SecurityGroupIds": [made["security_group_id"]],
                          "Subnets": made["subnet_ids"]},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        }
    }  # fmt: skip
    bucket = secure_infra["bucket"]
    request = processing_request(
        "quality-r1-q-d32c5kddcf5bb8c3", role_arn=secure_infra["role_arn"], region="us-east-1",
        script="quality_job.py", code_uri=f"s3://{bucket}/code/quality_job.py",
        inputs={"capture": (f"s3://{bucket}/datacapture/e/", "FullyReplicated")},
        output=f"s3://{bucket}/monitoring/e/quality/", instance_type="ml.m5.large",
        instance_count=1, arguments=[], tags=[], network=network,
    )  # fmt: skip
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_processing_job(**request)
    desc = sm.describe_processing_job(ProcessingJobName=request["ProcessingJobName"])
    assert desc["NetworkConfig"]["VpcConfig"]["Subnets"] == made["subnet_ids"]


def test_without_a_vpc_step_processing_jobs_get_no_network_config(tmp_path, infra):  # noqa: F811
    assert secure.processing_network(make_ctx(tmp_path, "churn-pipeline", infra)) == {}
