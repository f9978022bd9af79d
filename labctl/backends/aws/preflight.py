"""`labctl doctor` for AWS: credentials, the account they reach, the region."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from labctl import config
from labctl.backends.aws import images
from labctl.backends.aws.errors import CREDENTIALS_HINT, aws_error
from labctl.backends.modules import AWS_DEFAULT_REGION as DEFAULT_REGION


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
        known = region in images.IMAGES["xgboost"].registries
        lines.append(
            (
                "region",
                known,
                region if known else f"{region}: no SageMaker built-in images known there",
            )
        )
    return lines
