"""The `aws` target: the lab's steps on Amazon SageMaker, through boto3.

`AwsBackend` is composed of one mixin per concern: data.py, training.py, tuning.py, serving.py,
monitoring.py, teardown.py, over the shared plumbing of api.py.

Terraform (terraform/modules/aws) makes the lab's bucket and execution role; this package runs the
steps against them: data to S3, training jobs with managed spot and checkpoints (built-in
algorithms, or the lab's PyTorch / Hugging Face entry point in script mode: scriptmode.py),
automatic model tuning, model + endpoint config + endpoint (production variants, data capture,
autoscaling), batch transform and a Model Monitor data-quality schedule. Every billable resource
is written to the ledger before the call that creates it, and carries the three labctl tags.

Design choices:
- boto3 is imported in this package only, and clients are made on first use: `labctl list`
  never pays for it. Credentials come from boto3's standard chain; `AWS_ENDPOINT_URL` (moto in
  tests) is honoured by boto3 itself.
- Every AWS call goes through `AwsApi._api` (api.py), the one place a botocore error becomes a
  `BackendError` naming the step, the operation and the AWS error code, with a hint for what to do.
- Waiting is polling with an injectable `sleep` and `clock`, so tests never sleep.
- Teardown is idempotent: "not found" is success. An endpoint's teardown removes its monitoring
  schedules and autoscaling first (the ledger's teardown order has endpoints first), and the later
  teardown of those resources tolerates their being gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from labctl import components, config, datagen
from labctl.backends.aws.api import POLL_SECONDS
from labctl.backends.aws.checks import serving_findings, train_findings, tune_findings
from labctl.backends.aws.data import DataMixin
from labctl.backends.aws.monitoring import MonitoringMixin, monitor_findings
from labctl.backends.aws.pipelines import PipelinesMixin
from labctl.backends.aws.services import SDK_SERVICES, ServicesMixin
from labctl.backends.aws.serving import ServingMixin
from labctl.backends.aws.teardown import TeardownMixin
from labctl.backends.aws.training import TrainingMixin
from labctl.backends.aws.tuning import TuningMixin
from labctl.backends.base import Backend, Context, Finding
from labctl.backends.modules import AWS_DEFAULT_REGION as DEFAULT_REGION
from labctl.backends.modules import AwsModule
from labctl.catalog import (
    BatchStep,
    DataStep,
    DeployStep,
    Lab,
    MonitorStep,
    PipelineStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)


class AwsBackend(
    DataMixin,
    TrainingMixin,
    TuningMixin,
    ServingMixin,
    MonitoringMixin,
    ServicesMixin,
    PipelinesMixin,
    TeardownMixin,
    AwsModule,
    Backend,
):
    name = "aws"

    def __init__(
        self,
        *,
        session: Any = None,
        clients: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._session = session or boto3.session.Session()
        self.region = self._session.region_name or config.settings().aws.region or DEFAULT_REGION
        self._clients: dict[tuple[str, str], Any] = {
            (service, self.region): client for service, client in (clients or {}).items()
        }
        self._sleep = sleep
        self._clock = clock
        self.poll_seconds = poll_seconds

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep():
                    findings += train_findings(step, self.region)
                case TuneStep():
                    findings += tune_findings(lab, step)
                case ServiceStep() if not (
                    components.made_by_terraform(step)
                    or step.service in components.BY_HAND
                    or step.service in SDK_SERVICES
                ):
                    findings.append(  # never fatal: the lab's ML path runs without it
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on aws yet; skipped",
                            fatal=False,
                        )
                    )
                case PipelineStep() if step.schedule:
                    findings.append(
                        Finding(
                            step.name,
                            f"the SageMaker Pipeline is created, not scheduled "
                            f"('{step.schedule}'): start its executions on that schedule",
                            fatal=False,
                        )
                    )
                case DeployStep():
                    findings += serving_findings(lab, step, self.region)
                    if step.autoscaling and step.autoscaling.min_instances < 1:
                        findings.append(
                            Finding(
                                step.name,
                                "a real-time endpoint keeps at least 1 instance; "
                                "min_instances -> 1",
                                fatal=False,
                            )
                        )
                case BatchStep():
                    findings += serving_findings(lab, step, self.region)
                case MonitorStep():
                    findings += monitor_findings(lab, step, self.region)
        return findings + components.findings(lab)

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """A component the lab's Terraform made (its outputs), a resource the SageMaker API
        makes (services.py), else skipped with a warning."""
        if components.made_by_terraform(step):
            made = {"made_by": "terraform", **components.step_outputs(ctx.infra, step.name)}
            if step.service in SDK_SERVICES:  # the component's role, the backend's jobs
                made |= self.sdk_service(step, ctx)
            return made
        if step.service in SDK_SERVICES:
            return {"made_by": "sdk", **self.sdk_service(step, ctx)}
        reason = components.BY_HAND.get(step.service, "not provisioned by labctl on aws yet")
        ctx.reporter.warn(f"step '{step.name}': '{step.service}' skipped: {reason}")
        return {"skipped": reason}
