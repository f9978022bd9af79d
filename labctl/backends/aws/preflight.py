"""`labctl doctor` for AWS: credentials, the account they reach, iam:PassRole, the region."""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from labctl import config
from labctl.backends.aws import images
from labctl.backends.aws.errors import CREDENTIALS_HINT, aws_error
from labctl.backends.modules import AWS_DEFAULT_REGION as DEFAULT_REGION


def doctor(session: Any = None) -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for AWS: credentials, the account they reach, whether they may pass
    a lab's roles to SageMaker and EventBridge Scheduler, the region."""
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
            lines += pass_role_lines(session, identity["Arn"])
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
        known = region in images.IMAGES["xgboost"].registries
        lines.append(
            (
                "region",
                known,
                region if known else f"{region}: no SageMaker built-in images known there",
            )
        )
    return lines


# The roles terraform/modules/aws makes are named <name_prefix>-sm-<suffix> (jobs, passed to
# SageMaker) and <name_prefix>-quality-<suffix> (quality-check schedules, passed to EventBridge
# Scheduler), and name_prefix starts with "labctl-": representative ones for the IAM simulator.
PASSES = (  # (doctor line, role name, the service the role is passed to)
    ("iam:PassRole", "labctl-doctor-sm-check", "sagemaker.amazonaws.com"),
    ("iam:PassRole (schedules)", "labctl-doctor-quality-check", "scheduler.amazonaws.com"),
)


def pass_role_lines(session: Any, caller_arn: str) -> list[tuple[str, bool, str]]:
    """Can the caller pass a lab's roles to SageMaker and to EventBridge Scheduler
    (iam:PassRole)? Asked of the IAM policy simulator (iam:SimulatePrincipalPolicy); when it
    cannot say, the line says so."""
    match = re.fullmatch(r"arn:([\w-]+):(?:iam|sts)::(\d{12}):(.+)", caller_arn)
    if not match:
        return [(n, True, f"not checked: unexpected caller ARN {caller_arn}") for n, _, _ in PASSES]
    partition, account, rest = match.groups()
    if rest == "root":
        return [(n, True, "the account root user may pass any role") for n, _, _ in PASSES]
    iam = session.client("iam")
    lines = []
    try:
        principal = caller_arn
        assumed = re.fullmatch(r"assumed-role/([^/]+)/.+", rest)
        if assumed:  # the simulator wants the role's own ARN, path included
            principal = iam.get_role(RoleName=assumed.group(1))["Role"]["Arn"]
        for name, role, service in PASSES:
            result = iam.simulate_principal_policy(
                PolicySourceArn=principal,
                ActionNames=["iam:PassRole"],
                ResourceArns=[f"arn:{partition}:iam::{account}:role/{role}"],
                ContextEntries=[
                    {
                        "ContextKeyName": "iam:PassedToService",
                        "ContextKeyValues": [service],
                        "ContextKeyType": "string",
                    }
                ],
            )["EvaluationResults"][0]
            decision = result.get("EvalDecision", "")
            if decision == "allowed":
                lines.append((name, True, f"allowed for labctl-* roles passed to {service} "
                                          f"({principal})"))  # fmt: skip
            else:
                lines.append((name, False, f"{decision} for {principal} on role/labctl-*: "
                              f"{USES[service]} would be refused; ask your AWS administrator for "
                              f"iam:PassRole on arn:{partition}:iam::{account}:role/labctl-* "
                              f"with iam:PassedToService {service}"))  # fmt: skip
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        code = (
            exc.response.get("Error", {}).get("Code")
            if isinstance(exc, ClientError)
            else type(exc).__name__
        )
        done = {line[0] for line in lines}
        lines += [(n, True, f"not determined ({code}): labctl could not ask the IAM simulator")
                  for n, _, _ in PASSES if n not in done]  # fmt: skip
    return lines


USES = {
    "sagemaker.amazonaws.com": "SageMaker jobs of a lab",
    "scheduler.amazonaws.com": "the monitor steps' quality-check schedules",
}
