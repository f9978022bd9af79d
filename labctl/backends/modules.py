"""What each cloud's Terraform root module is given, from configuration alone (no cloud SDK).

A backend's module inputs, provider block and state backend are mixed into both the real backend
(`AwsBackend(AwsModule, Backend)`) and the render-only stand-in that `labctl render` and
`labctl plan` use when a cloud's SDK is not installed, so both write the same module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl import config, naming

if TYPE_CHECKING:
    from labctl.catalog import Lab

AWS_DEFAULT_REGION = "us-east-1"
BIGQUERY = ("bigquery", "bigquery-ml")  # the services the gcp target runs as BigQuery jobs


def aws_region_without_sdk() -> str:
    """The AWS region from the environment or `[aws] region` (profile regions need boto3)."""
    return (
        os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or config.settings().aws.region
        or AWS_DEFAULT_REGION
    )


class AwsModule:
    """terraform/modules/aws: needs only the region."""

    region: str | None

    def configure_without_sdk(self) -> None:
        self.region = aws_region_without_sdk()

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        from labctl.backends import aws_algorithms

        return {
            "scratch_expiry_days": 7,
            "prebuilt_image_repositories": aws_algorithms.repositories(),
        }

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        return {"aws": {"region": self.region, "default_tags": {"tags": tags}}}

    def backend_config(self, engineer: str, lab: str) -> dict[str, Any] | None:
        """S3 remote state when `[aws] state_bucket` is configured; local state otherwise.

        Locking: S3-native lock files when the engine is Terraform >= 1.10 (the bundled one is);
        a DynamoDB table only when `state_lock_table` is set (both during a migration).
        """
        from labctl import terraform

        aws = config.settings().aws
        if not aws.state_bucket:
            return None
        s3: dict[str, Any] = {
            "bucket": aws.state_bucket,
            "key": f"{aws.state_key_prefix}/{naming.label_value(engineer)}/{lab}/aws/"
            "terraform.tfstate",
            "region": self.region,
            "encrypt": True,
        }
        if aws.state_lock_table:
            s3["dynamodb_table"] = aws.state_lock_table
        if terraform.engine_version() >= terraform.LOCKFILE_VERSION:
            s3["use_lockfile"] = True
        return {"s3": s3}


class GcpModule:
    """terraform/modules/gcp: the project and region, and what the lab's steps need."""

    region: str | None
    _project: str | None

    def configure_without_sdk(self) -> None:
        gcp = config.settings().gcp
        self.region, self._project = gcp.region, gcp.project

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        from labctl.catalog import ServiceStep

        return {
            "project": self._project,
            "region": self.region,
            "scratch_expiry_days": 7,
            # a dataset, and BigQuery job rights, only for labs with BigQuery steps
            "bigquery_dataset": lab is None
            or any(isinstance(s, ServiceStep) and s.service in BIGQUERY for s in lab.steps),
            # the per-engineer budget needs the billing account (none: no budget object)
            "billing_account": os.environ.get("LABCTL_GCP_BILLING_ACCOUNT")
            or config.settings().gcp.billing_account,
        }

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        block = {"project": self._project, "region": self.region, "default_labels": tags}
        return {"google": {k: v for k, v in block.items() if v is not None}}


class DatabricksModule:
    """terraform/modules/databricks: the workspace comes from the provider's unified auth."""

    def configure_without_sdk(self) -> None:
        """Nothing to configure: the provider block names at most a profile."""

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """A profile when configured; otherwise the provider's own unified auth (environment,
        ~/.databrickscfg DEFAULT). Never a token: nothing secret is rendered."""
        profile = config.settings().databricks.profile
        return {"databricks": {"profile": profile}} if profile else {}


MODULES: dict[str, type] = {"aws": AwsModule, "gcp": GcpModule, "databricks": DatabricksModule}
