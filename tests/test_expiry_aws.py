"""AWS expiry (issue 13): the schedule's payload, sent as the request it names, deletes the
endpoint labctl's deploy step made.

The root module is rendered as `up` renders it; the aws module's provider-free `expiry` module is
applied with Terraform itself (`_expiry.evaluate`) on those inputs; the schedule is created in
moto with what `expiry.tf` passes (EventBridge Scheduler, IAM), before the lab's steps run;
then its target input is sent to SageMaker as the operation its universal target ARN names.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import _expiry
import boto3
import pytest
import test_aws
from botocore import xform_name
from test_aws import ENGINEER, make_ctx, no_sleep

from labctl import orchestrator
from labctl.backends.aws import AwsBackend, sm_name
from labctl.backends.base import backend_for_render

pytestmark = pytest.mark.aws
moto_server, aws_env, infra = test_aws.moto_server, test_aws.aws_env, test_aws.infra  # fixtures

DEADLINE = "2026-12-01T19:05:00Z"  # RFC 3339 UTC, as `up --autostop` passes it
ACCOUNT = {"partition": "aws", "region": "eu-west-1", "account_id": "123456789012"}


def lab_inputs(backend, lab_name, run_id, ws, spec, autostop_at):
    """The `module.lab` block of the root module `up` writes (autostop_at fed directly until
    the `autostop` input lands in the orchestrator)."""
    module = orchestrator.root_module(
        backend, engineer=ENGINEER, lab=lab_name, run_id=run_id, ws=ws, spec=spec
    )
    if autostop_at:
        module.inputs["autostop_at"] = autostop_at
    return module.document()["module"]["lab"]


def hcl_literal(value):
    return value.strip('"') if isinstance(value, str) else value


def test_schedule_input_sent_as_its_request_deletes_the_deployed_endpoint(tmp_path, infra):
    lab_name = "churn-pipeline"
    ctx = make_ctx(tmp_path, lab_name, infra)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    inputs = lab_inputs(backend, lab_name, ctx.run.id, tmp_path, ctx.lab, DEADLINE)
    assert inputs["autostop_at"] == DEADLINE
    assert inputs["endpoint_names"] == [sm_name("endpoint", ctx.run.id)]

    out = _expiry.evaluate(
        "aws",
        tmp_path / "tf",
        autostop_at=inputs["autostop_at"],
        endpoint_names=inputs["endpoint_names"],
        partition="aws",
        region=infra["region"],
        account_id=infra["account_id"],
    )
    assert out["enabled"] is True
    assert out["schedule_expression"] == "at(2026-12-01T19:05:00)"
    assert re.fullmatch(r"at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)", out["schedule_expression"])
    assert out["target_arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"

    # What terraform apply makes (expiry.tf), in moto, before any endpoint exists.
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="lab-expiry", AssumeRolePolicyDocument=out["trust_policy"])
    iam.put_role_policy(
        RoleName="lab-expiry", PolicyName="labctl-delete-lab-endpoints",
        PolicyDocument=out["role_policy"],
    )  # fmt: skip
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    tags = [{"Key": k, "Value": v} for k, v in inputs["tags"].items()]
    scheduler.create_schedule_group(Name="lab-expiry", Tags=tags)
    body = _expiry.resource("aws", "aws_scheduler_schedule")
    target = body["target"][0]
    retry = target["retry_policy"][0]
    for name, schedule in out["schedules"].items():
        scheduler.create_schedule(
            Name=name,
            GroupName="lab-expiry",
            ScheduleExpression=out["schedule_expression"],
            ScheduleExpressionTimezone=hcl_literal(body["schedule_expression_timezone"]),
            ActionAfterCompletion=hcl_literal(body["action_after_completion"]),
            FlexibleTimeWindow={"Mode": hcl_literal(body["flexible_time_window"][0]["mode"])},
            Target={
                "Arn": out["target_arn"],
                "RoleArn": role["Role"]["Arn"],
                "Input": schedule["input"],
                "RetryPolicy": {
                    "MaximumEventAgeInSeconds": retry["maximum_event_age_in_seconds"],
                    "MaximumRetryAttempts": retry["maximum_retry_attempts"],
                },
            },
        )
    assert hcl_literal(body["schedule_expression_timezone"]) == "UTC"
    assert hcl_literal(body["action_after_completion"]) == "DELETE"

    # The lab runs: its deploy step makes the endpoint the schedule names.
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
    sm = boto3.client("sagemaker", region_name="us-east-1")
    endpoint = ctx.results["endpoint"]["endpoint"]
    arn = sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"

    # At the deadline: the universal target names service and operation; its input is the call.
    found = scheduler.get_schedule(Name=endpoint, GroupName="lab-expiry")
    assert found["ScheduleExpression"] == out["schedule_expression"]
    assert found["Target"]["RoleArn"] == role["Role"]["Arn"]
    service, action = re.fullmatch(
        r"arn:aws:scheduler:::aws-sdk:(\w+):(\w+)", found["Target"]["Arn"]
    ).groups()
    client = boto3.client(service, region_name="us-east-1")
    operation = action[0].upper() + action[1:]
    assert operation in client.meta.service_model.operation_names
    getattr(client, xform_name(operation))(**json.loads(found["Target"]["Input"]))
    assert endpoint not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    with pytest.raises(sm.exceptions.ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName=endpoint)

    # Least privilege: the role may call DeleteEndpoint on that endpoint and nothing else.
    policy = iam.get_role_policy(RoleName="lab-expiry", PolicyName="labctl-delete-lab-endpoints")
    policy = policy["PolicyDocument"]
    policy = policy if isinstance(policy, dict) else json.loads(unquote(policy))
    assert policy == json.loads(out["role_policy"])
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sagemaker:DeleteEndpoint"
    assert statement["Resource"] == [arn.lower()]
    trust = json.loads(out["trust_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": infra["account_id"]}}
    assert (
        scheduler.list_tags_for_resource(
            ResourceArn=scheduler.get_schedule_group(Name="lab-expiry")["Arn"]
        )["Tags"]
        == tags
    )


def test_every_deploy_step_gets_a_schedule_and_the_policy_covers_each(tmp_path, home):
    """mlops-multi-env deploys twice: two schedules, one policy statement over both ARNs."""
    backend = backend_for_render("aws")
    lab = orchestrator.catalog_mod.load(None).lab("mlops-multi-env")
    inputs = lab_inputs(backend, "mlops-multi-env", "r1a2b3", tmp_path, lab, DEADLINE)
    names = [sm_name("deploy-staging", "r1a2b3"), sm_name("deploy-production", "r1a2b3")]
    assert inputs["endpoint_names"] == names
    out = _expiry.evaluate(
        "aws", tmp_path / "tf", autostop_at=DEADLINE, endpoint_names=names, **ACCOUNT
    )
    assert {n: json.loads(s["input"]) for n, s in out["schedules"].items()} == {
        n: {"EndpointName": n} for n in names
    }
    [statement] = json.loads(out["role_policy"])["Statement"]
    assert statement["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{n.lower()}" for n in names
    ]


def test_no_deadline_renders_no_schedule(tmp_path, home):
    """`--autostop none`: autostop_at stays null, and the expiry module schedules nothing."""
    backend = backend_for_render("aws")
    lab = orchestrator.catalog_mod.load(None).lab("churn-pipeline")
    inputs = lab_inputs(backend, "churn-pipeline", "r1a2b3", tmp_path, lab, None)
    assert "autostop_at" not in inputs
    out = _expiry.evaluate(
        "aws", tmp_path / "tf", endpoint_names=inputs["endpoint_names"], **ACCOUNT
    )
    assert out["enabled"] is False
    assert out["schedules"] == {}
    assert "schedule_expression" not in out  # null


def test_a_lab_without_endpoints_schedules_nothing(tmp_path):
    out = _expiry.evaluate(
        "aws", tmp_path / "tf", autostop_at=DEADLINE, endpoint_names=[], **ACCOUNT
    )
    assert out["enabled"] is False
    assert out["schedules"] == {}


@pytest.mark.parametrize("deadline", ["tomorrow 7pm", "2026-12-01T20:05:00+01:00"])
def test_a_deadline_not_in_rfc3339_utc_is_refused_by_the_module(tmp_path, deadline):
    """at() is read in UTC: a deadline with another offset would fire at the wrong hour."""
    from labctl.errors import TerraformError

    with pytest.raises(TerraformError, match="RFC 3339 timestamp in UTC"):
        _expiry.evaluate(
            "aws", tmp_path / "tf", autostop_at=deadline, endpoint_names=["e-1"], **ACCOUNT
        )
