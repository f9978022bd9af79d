"""What each cloud's Terraform root module is given, from configuration alone (no cloud SDK).

A backend's module inputs, provider block and state backend are mixed into both the real backend
(`AwsBackend(AwsModule, Backend)`) and the render-only stand-in that `labctl render` and
`labctl plan` use when a cloud's SDK is not installed, so both write the same module.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl import config, paths
from labctl.errors import Refused, UsageError

if TYPE_CHECKING:
    from labctl.catalog import DeployStep, Lab

AWS_DEFAULT_REGION = "us-east-1"
BIGQUERY = ("bigquery", "bigquery-ml")  # the services the gcp target runs as BigQuery jobs


def engine_version(explicit: Any = None) -> tuple[int, int]:
    """(major, minor) of the Terraform engine: `explicit` ("1.9.8", (1, 9), a Version), else
    the engine that will run (`labctl.terraform.engine_version()`)."""
    if explicit is None:
        from labctl import terraform

        explicit = terraform.engine_version()
    if isinstance(explicit, tuple):
        return int(explicit[0]), int(explicit[1])
    match = re.search(r"(\d+)\.(\d+)", str(explicit))
    if not match:
        raise ValueError(f"not a Terraform version: {explicit!r}")
    return int(match[1]), int(match[2])


def aws_region_without_sdk() -> str:
    """The AWS region from the environment or `[aws] region` (profile regions need boto3)."""
    return (
        os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or config.settings().aws.region
        or AWS_DEFAULT_REGION
    )


class AwsModule:
    """terraform/modules/aws: needs only the region; plus a module per service step that
    Terraform makes (`labctl.components`)."""

    region: str | None

    def configure_without_sdk(self) -> None:
        self.region = aws_region_without_sdk()

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        from labctl import components
        from labctl.backends.aws import images

        inputs: dict[str, Any] = {
            "scratch_expiry_days": 7,
            "prebuilt_image_repositories": images.repositories(),
        }
        if lab is not None:  # e.g. the kms step's key encrypts the lab bucket
            inputs |= components.lab_inputs(lab)
        return inputs

    def module_components(self, lab: Lab) -> dict[str, dict[str, Any]]:
        """The lab's service steps made by Terraform, as module blocks (labctl.components)."""
        from labctl import components

        return components.blocks(lab)

    def run_inputs(self, lab: Lab, *, lab_name: str, engineer: str, run_id: str) -> dict[str, Any]:
        """The endpoints the expiry schedules delete, the names the deploy steps will give them
        (`serving.deploy`), and the name prefixes of the quality-check jobs the monitor steps'
        schedules start (`names.quality_job_prefix`): known before they exist."""
        from labctl.backends.aws.names import quality_job_prefix, sm_name
        from labctl.catalog import MonitorStep

        return {
            "endpoint_names": [sm_name(s.name, run_id) for s in deploy_steps(lab)],
            "quality_job_prefixes": [
                quality_job_prefix(s.name, run_id) for s in lab.steps if isinstance(s, MonitorStep)
            ],
        }

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        return {"aws": {"region": self.region, "default_tags": {"tags": tags}}}

    def backend_config(
        self, engineer: str, lab: str, *, engine: Any = None
    ) -> dict[str, Any] | None:
        """S3 remote state when `[aws] state_bucket` is configured; local state otherwise.

        Locking: S3 lock files (`use_lockfile`, Terraform >= 1.10); a DynamoDB table only when
        `[aws] state_lock_table` is set, then beside the lock file (Terraform's migration path,
        so older engines sharing the state still lock). `engine`: the Terraform version that will
        run (default: `engine_version()`).

        Raises:
            Refused: remote state could not be locked (an engine older than 1.10, no lock table).
        """
        from labctl.terraform import LOCKFILE_VERSION

        aws = config.settings().aws
        if not aws.state_bucket:
            return None
        version = engine_version(engine)
        lockfile = version >= LOCKFILE_VERSION
        if not lockfile and not aws.state_lock_table:
            raise Refused(
                f"S3 state in {aws.state_bucket} cannot be locked: S3 lock files need Terraform "
                f"1.10 or later, and the engine is {version[0]}.{version[1]}",
                hint="set `[aws] state_lock_table` to a DynamoDB table (partition key LockID), "
                "or run Terraform 1.10 or later",
            )
        s3: dict[str, Any] = {
            "bucket": aws.state_bucket,
            # the engineer's workspace folder name: one engineer, one state (paths.engineer_folder)
            "key": f"{aws.state_key_prefix}/{paths.engineer_folder(engineer)}/{lab}/aws/"
            "terraform.tfstate",
            "region": self.region,
            "encrypt": True,
        }
        if lockfile:
            s3["use_lockfile"] = True
        if aws.state_lock_table:
            s3["dynamodb_table"] = aws.state_lock_table
        return {"s3": s3}


class GcpModule:
    """terraform/modules/gcp: the project and region, and what the lab's steps need."""

    region: str | None
    _project: str | None

    def configure_without_sdk(self) -> None:
        self.region = config.settings().gcp.region
        self._project = gcp_project_setting()

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        from labctl.catalog import PipelineStep, ServiceStep

        return {
            "project": self._project,
            "region": self.region,
            "scratch_expiry_days": 7,
            # a dataset, and BigQuery job rights, only for labs with BigQuery steps
            "bigquery_dataset": lab is None
            or any(isinstance(s, ServiceStep) and s.service in BIGQUERY for s in lab.steps)
            or gcp_needs_dataset(lab),
            # the Dataflow step's Pub/Sub source and roles; the pipelines' act-as-self
            "dataflow": lab is not None and gcp_dataflow(lab),
            "pipelines": lab is not None and any(isinstance(s, PipelineStep) for s in lab.steps),
        }

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """The project and region, and with a billing account the quota project: the Billing
        Budgets API refuses user credentials (ADC) without one (403 "requires a quota project").

        Raises:
            UsageError: no project (the module needs one; called after `module_inputs`, so a
            backend that finds the project in ADC has set it by then).
        """
        if not self._project:
            raise no_gcp_project()
        block: dict[str, Any] = {
            "project": self._project,
            "region": self.region,
            "default_labels": tags,
        }
        if gcp_billing_account():
            block |= {"user_project_override": True, "billing_project": self._project}
        return {"google": {k: v for k, v in block.items() if v is not None}}


def gcp_dataflow(lab: Lab) -> bool:
    """Whether the lab has a Dataflow step (its module makes the Pub/Sub source)."""
    from labctl.catalog import ServiceStep

    return any(isinstance(s, ServiceStep) and s.service == "dataflow" for s in lab.steps)


def gcp_needs_dataset(lab: Lab) -> bool:
    """Dataflow's sink, request-response logging and Model Monitoring need the lab's dataset."""
    from labctl.catalog import DeployStep, MonitorStep

    return gcp_dataflow(lab) or any(
        isinstance(s, MonitorStep) or (isinstance(s, DeployStep) and s.data_capture_percent)
        for s in lab.steps
    )


def gcp_billing_account() -> str | None:
    """`LABCTL_GCP_BILLING_ACCOUNT`, else `[gcp] billing_account`."""
    return os.environ.get("LABCTL_GCP_BILLING_ACCOUNT") or config.settings().gcp.billing_account


def gcp_project_setting() -> str | None:
    """`[gcp] project`, else GOOGLE_CLOUD_PROJECT (which ADC reads too, so the module and the
    SDK calls find the same project with or without credentials)."""
    return config.settings().gcp.project or os.environ.get("GOOGLE_CLOUD_PROJECT")


def no_gcp_project() -> UsageError:
    return UsageError(
        "gcp: no Google Cloud project",
        hint="set `[gcp] project` in the labctl config, or GOOGLE_CLOUD_PROJECT, or "
        "`gcloud config set project ID` before `gcloud auth application-default login`",
    )


class DatabricksModule:
    """terraform/modules/databricks: the workspace comes from the provider's unified auth."""

    def configure_without_sdk(self) -> None:
        """Nothing to configure: the provider block names at most a profile."""

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        """The workspace's cloud, and the node types the policy allows there: the cloud's
        defaults plus the nodes the lab's steps run on (the backend's own table, `nodes`)."""
        from labctl.backends.databricks import nodes
        from labctl.backends.databricks.lab_inputs import lab_inputs

        cloud = config.settings().databricks.cloud
        wanted = (getattr(s, "instance_type", None) for s in (lab.steps if lab else []))
        own = [n for t in wanted if t and (n := nodes.node_type(cloud, t))]
        return {
            "cloud": cloud,
            "node_type_ids": list(dict.fromkeys([*nodes.DEFAULTS[cloud], *own])),
            **lab_inputs(lab),  # the lab's Delta Live Tables pipelines
        }

    def run_inputs(self, lab: Lab, *, lab_name: str, engineer: str, run_id: str) -> dict[str, Any]:
        """The serving endpoints the expiry job deletes (`serving.deploy` names them)."""
        from labctl.backends.databricks.names import endpoint_name

        return {
            "endpoint_names": [endpoint_name(engineer, lab_name, s.name) for s in deploy_steps(lab)]
        }

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """A profile when configured; otherwise the provider's own unified auth (environment,
        ~/.databrickscfg DEFAULT). Never a token: nothing secret is rendered."""
        profile = config.settings().databricks.profile
        return {"databricks": {"profile": profile}} if profile else {}


def deploy_steps(lab: Lab) -> list[DeployStep]:
    """The lab's deploy steps: each makes one real-time endpoint, which expires at the deadline."""
    from labctl.catalog import DeployStep

    return [s for s in lab.steps if isinstance(s, DeployStep)]


MODULES: dict[str, type] = {"aws": AwsModule, "gcp": GcpModule, "databricks": DatabricksModule}
