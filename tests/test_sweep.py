"""`labctl sweep`: tagged resources the ledger does not show as open are listed and deleted.

aws runs against moto (ThreadedMotoServer, the fixtures of tests/test_aws.py): the resources a lab
leaves are created with the tags labctl puts on them (labctl.naming.tags), the ledger is deleted,
and the real CLI lists and deletes them; untagged resources survive. gcp and databricks are tested
at the request level, as tests/test_gcp.py and tests/test_databricks.py do.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from labctl import naming, paths
from labctl import sweep as sweep_mod
from labctl.ledger import Ledger
from labctl.progress import Reporter
from tests.test_aws import ENGINEER, ROLE_TRUST, aws_env, moto_server  # noqa: F401

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def sm():
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def role(aws_env):  # noqa: F811
    iam = boto3.client("iam", region_name="us-east-1")
    return iam.create_role(RoleName="labctl-sm", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))[
        "Role"
    ]["Arn"]


def make_endpoint(role: str, name: str, tags: dict[str, str] | None, *, count: int = 1) -> None:
    """Model, endpoint config and endpoint named `name`, as the aws backend deploys them."""
    client = sm()
    t = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    client.create_model(ModelName=name, ExecutionRoleArn=role,
                        PrimaryContainer={"Image": IMAGE}, Tags=t)  # fmt: skip
    variant = {"VariantName": "AllTraffic", "ModelName": name,
               "InstanceType": "ml.m5.large", "InitialInstanceCount": count}  # fmt: skip
    client.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=t)
    client.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=t)


def names(items, kind="endpoint"):
    return sorted(i["name"] for i in items if i["kind"] == kind)


def endpoints():
    return sorted(e["EndpointName"] for e in sm().list_endpoints()["Endpoints"])


# --- aws, against moto -------------------------------------------------------------------------


def test_sweep_after_the_ledger_is_deleted_removes_only_tagged_resources(cli, role):
    lab_tags = naming.tags(ENGINEER, "churn-pipeline", "r1a2b3c4")
    make_endpoint(role, "churn-pipeline-r1a2b3c4", lab_tags, count=2)
    make_endpoint(role, "someone-elses-endpoint", None)  # untagged: never touched
    other = naming.tags("bob@example.com", "fraud-detection", "r5e6f7a8")
    make_endpoint(role, "fraud-detection-r5e6f7a8", other)
    Ledger().engine.dispose()  # a ledger existed, and was lost with its WAL files
    for file in paths.home().glob("ledger.db*"):
        file.unlink()

    listed = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--json")
    assert listed.code == 0, listed.stderr
    data = listed.json()
    assert data["status"] == "dry-run"  # no terminal: list only
    assert names(data["items"]) == ["churn-pipeline-r1a2b3c4"]
    assert names(data["items"], "endpoint-config") == ["churn-pipeline-r1a2b3c4"]
    assert names(data["items"], "model") == ["churn-pipeline-r1a2b3c4"]
    endpoint = next(i for i in data["items"] if i["kind"] == "endpoint")
    assert endpoint["engineer"] == "ana-example-com" and endpoint["lab"] == "churn-pipeline"
    assert endpoint["instances"] == [{"instance_type": "ml.m5.large", "count": 2}]
    assert endpoint["usd_per_hour"] == pytest.approx(2 * 0.115)  # 2 x ml.m5.large hosting
    assert [i["kind"] for i in data["items"]] == ["endpoint", "endpoint-config", "model"]
    assert len(endpoints()) == 3  # nothing deleted yet

    everyone = cli("sweep", "--target", "aws", "--all-engineers", "--json").json()
    assert names(everyone["items"]) == ["churn-pipeline-r1a2b3c4", "fraud-detection-r5e6f7a8"]

    swept = cli("sweep", "--target", "aws", "--all-engineers", "--yes", "--json")
    assert swept.code == 0, swept.stderr
    assert {i["outcome"] for i in swept.json()["items"]} == {"deleted"}
    assert endpoints() == ["someone-elses-endpoint"]
    assert [m["ModelName"] for m in sm().list_models()["Models"]] == ["someone-elses-endpoint"]
    configs = sm().list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == ["someone-elses-endpoint"]

    again = cli("sweep", "--target", "aws", "--all-engineers", "--json")
    assert again.json() == {"status": "nothing-to-do", "engineer": None, "usd_per_hour": 0,
                            "items": []}  # fmt: skip


def test_tagged_endpoint_made_outside_labctl_is_listed_and_deleted(cli, role):
    make_endpoint(role, "by-hand", {"labctl-engineer": "tester-example-com"})
    listed = cli("sweep", "--target", "aws")  # the engineer: LABCTL_ENGINEER
    assert listed.code == 0, listed.stderr
    assert "by-hand" in listed.stdout and "--yes" in listed.stderr
    swept = cli("sweep", "--target", "aws", "--yes")
    assert swept.code == 0, swept.stderr
    assert "3 resource(s) deleted" in swept.stdout
    assert endpoints() == []


def test_what_the_ledger_shows_open_is_not_listed(cli, role):
    ledger = Ledger()
    run = ledger.start_run(engineer=ENGINEER, lab="churn-pipeline", target="aws",
                           workspace="/tmp/ws", region="us-east-1")  # fmt: skip
    make_endpoint(role, "in-ledger", naming.tags(ENGINEER, "churn-pipeline", run.id))
    make_endpoint(role, "closed-in-ledger", naming.tags(ENGINEER, "churn-pipeline", run.id))
    arn = sm().describe_endpoint(EndpointName="in-ledger")["EndpointArn"]
    ledger.add_resource(run, kind="endpoint", name="in-ledger", provider_id=arn)
    ledger.add_resource(run, kind="endpoint-config", name="in-ledger")
    ledger.add_resource(run, kind="model", name="in-ledger")
    closed = ledger.add_resource(run, kind="endpoint", name="closed-in-ledger")
    ledger.close_resource(closed.id)

    data = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--json").json()
    assert {i["name"] for i in data["items"]} == {"closed-in-ledger"}


def test_declined_sweep_deletes_nothing_and_exits_1(role, home, monkeypatch):
    from typer.testing import CliRunner

    from labctl.cli import app

    make_endpoint(role, "by-hand", {"labctl-engineer": "tester-example-com"})
    monkeypatch.setattr("labctl.commands.sweep._interactive", lambda: True)
    result = CliRunner().invoke(app, ["sweep", "--target", "aws"], input="\n")
    assert result.exit_code == 1, result.output
    assert endpoints() == ["by-hand"]


def test_usage_errors(cli):
    bad = cli("sweep", "--target", "local")
    assert bad.code == 2 and "expected one of aws, gcp, databricks" in bad.stderr
    both = cli("sweep", "--engineer", "a@b.c", "--all-engineers")
    assert both.code == 2


def test_a_running_training_job_is_stopped_through_the_aws_teardown(home):
    """moto completes jobs at once: a Stubber plays one still in progress."""
    from labctl.backends.aws import AwsBackend
    from labctl.backends.aws import sweep as aws_sweep

    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")  # fmt: skip
    backend = AwsBackend(clients={"sagemaker": client}, sleep=lambda s: None, poll_seconds=0)
    stray = sweep_mod.Stray("aws", "training-job", "train-r1", "arn:x", "us-east-1")
    name = {"TrainingJobName": "train-r1"}
    with Stubber(client) as stub:
        described = {
            "TrainingJobName": "train-r1",
            "TrainingJobArn": "arn:x",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ModelArtifacts": {"S3ModelArtifacts": ""},
            "StoppingCondition": {},
            "CreationTime": "2026-11-01T10:00:00Z",
            "SecondaryStatus": "Training",
        }
        stub.add_response("describe_training_job",
                          {**described, "TrainingJobStatus": "InProgress"}, name)  # fmt: skip
        stub.add_response("stop_training_job", {}, name)
        stub.add_response("describe_training_job",
                          {**described, "TrainingJobStatus": "Stopped"}, name)  # fmt: skip
        sweep_mod.delete([stray], reporter=Reporter(), backends={"aws": backend})
        stub.assert_no_pending_responses()
    assert stray.outcome == "deleted"
    assert aws_sweep.LISTINGS["training-job"][4] == {"StatusEquals": "InProgress"}
