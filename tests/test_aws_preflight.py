"""`labctl doctor` for AWS asks the IAM policy simulator whether the caller may pass a lab's
role to SageMaker (botocore Stubber: no AWS)."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from labctl.backends.aws import doctor

pytestmark = pytest.mark.aws
PASSED = (  # (role, service): the lab's job role to SageMaker, its schedules' to the scheduler
    ("arn:aws:iam::123456789012:role/labctl-doctor-sm-check", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/labctl-doctor-quality-check", "scheduler.amazonaws.com"),
)


def session_for(caller: str, decision: str | None, *, role_path: str = "/"):
    clients, stubs = {}, {}
    for service in ("sts", "iam"):
        clients[service] = boto3.client(
            service,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stubs[service] = Stubber(clients[service])
    stubs["sts"].add_response(
        "get_caller_identity", {"Account": "123456789012", "Arn": caller, "UserId": "AIDA"}
    )
    principal = caller
    if ":assumed-role/" in caller:
        name = caller.split("/")[1]
        principal = f"arn:aws:iam::123456789012:role{role_path}{name}"
        stubs["iam"].add_response(
            "get_role",
            {
                "Role": {
                    "Path": role_path,
                    "RoleName": name,
                    "RoleId": "AROAEXAMPLEEXAMPLE1",
                    "Arn": principal,
                    "CreateDate": "2026-01-01T00:00:00Z",
                }
            },
            {"RoleName": name},
        )
    if decision is None:
        stubs["iam"].add_client_error(
            "simulate_principal_policy", service_error_code="AccessDenied", http_status_code=403
        )
    else:
        decisions = decision if isinstance(decision, tuple) else (decision, decision)
        for (role, service), said in zip(PASSED, decisions, strict=True):
            stubs["iam"].add_response(
                "simulate_principal_policy",
                {"EvaluationResults": [{"EvalActionName": "iam:PassRole", "EvalDecision": said}]},
                {
                    "PolicySourceArn": principal,
                    "ActionNames": ["iam:PassRole"],
                    "ResourceArns": [role],
                    "ContextEntries": [
                        {
                            "ContextKeyName": "iam:PassedToService",
                            "ContextKeyValues": [service],
                            "ContextKeyType": "string",
                        }
                    ],
                },
            )
    creds = SimpleNamespace(method="env")
    session = SimpleNamespace(
        get_credentials=lambda: creds,
        region_name="us-east-1",
        client=lambda service, **kw: clients[service],
    )
    return session, stubs


def lines_of(session, stubs):
    with stubs["sts"], stubs["iam"]:
        lines = {name: (ok, detail) for name, ok, detail in doctor(session)}
        stubs["iam"].assert_no_pending_responses()
    return lines


def test_pass_role_allowed_for_an_sso_role(home):
    caller = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ML_abc/ana@example.com"
    path = "/aws-reserved/sso.amazonaws.com/"
    ok, detail = lines_of(*session_for(caller, "allowed", role_path=path))["iam:PassRole"]
    assert ok and f"role{path}AWSReservedSSO_ML_abc" in detail


def test_pass_role_denied_says_what_to_ask_for(home):
    ok, detail = lines_of(*session_for("arn:aws:iam::123456789012:user/ana", "implicitDeny"))[
        "iam:PassRole"
    ]
    assert not ok and "implicitDeny" in detail
    assert "iam:PassRole on arn:aws:iam::123456789012:role/labctl-*" in detail


def test_pass_role_undetermined_is_not_a_failure(home):
    lines = lines_of(*session_for("arn:aws:iam::123456789012:user/ana", None))
    for name in ("iam:PassRole", "iam:PassRole (schedules)"):
        ok, detail = lines[name]
        assert ok and detail.startswith("not determined (AccessDenied)")


def test_passing_the_schedules_role_is_checked_on_its_own(home):
    """Quality-check schedules pass the lab's quality role to EventBridge Scheduler."""
    session = session_for("arn:aws:iam::123456789012:user/ana", ("allowed", "implicitDeny"))
    lines = lines_of(*session)
    assert lines["iam:PassRole"][0]
    ok, detail = lines["iam:PassRole (schedules)"]
    assert not ok and "quality-check schedules would be refused" in detail
    assert "iam:PassedToService scheduler.amazonaws.com" in detail
