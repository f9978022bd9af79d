"""Monitor steps: data quality in Model Monitor where the account may use it; otherwise, and
for model quality everywhere, as scheduled SageMaker Processing jobs (quality.py)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from labctl.backends.aws import images, secure
from labctl.backends.aws.algorithms import data_of
from labctl.backends.aws.api import AwsApi, sm_name, tags
from labctl.backends.aws.checks import image_finding
from labctl.backends.aws.errors import is_closed_to_account, is_gone
from labctl.backends.aws.quality import QualityChecksMixin
from labctl.backends.base import Context, Finding
from labctl.catalog import DeployStep, Lab, MonitorStep
from labctl.errors import BackendError

SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}
QUALITY_CHECKS = ("data-quality", "model-quality")
MODEL_MONITOR_NOTICE = (
    "Amazon SageMaker Model Monitor is closed to new AWS customers (AWS documentation): where "
    "the account is refused CreateMonitoringSchedule, labctl runs the data-quality check as a "
    "scheduled SageMaker Processing job over the captured traffic instead (priced in the ledger "
    "like any job)"
)


class MonitoringMixin(QualityChecksMixin, AwsApi):
    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        """Schedule the step's checks of the endpoint's captured traffic.

        data-quality: a Model Monitor schedule baselined on the training data (the data step
        computes statistics.json and constraints.json); where Model Monitor is closed to the
        account (or the SageMaker API lacks it, as moto does) the check joins model-quality,
        which labctl always runs as scheduled processing jobs comparing the captured predictions
        with the validation labels of the requests that repeat a validation row. bias and
        explainability (Clarify) are not scheduled. A deploy step without data capture leaves
        nothing to check: nothing is created.
        """
        deploy = ctx.lab.step(step.endpoint)
        assert isinstance(deploy, DeployStep)
        endpoint = ctx.result(step.name, step.endpoint)["endpoint"]
        data = ctx.result(step.name, data_of(ctx.lab, deploy.model))
        checks = [c for c in step.checks if c in QUALITY_CHECKS]
        result: dict[str, Any] = {
            "endpoint": endpoint,
            "checks": [],
            "not_scheduled": [c for c in step.checks if c not in QUALITY_CHECKS],
        }
        if not checks:
            return {**result, "skipped": f"{', '.join(step.checks)} monitoring is not scheduled "
                    "by labctl (see `labctl plan`); nothing was created"}  # fmt: skip
        if deploy.data_capture_percent == 0:
            return {**result, "skipped": f"deploy step '{deploy.name}' captures no traffic: "
                    "nothing to check; nothing was created"}  # fmt: skip
        if "data-quality" in checks and not data.get("baseline"):
            result["not_scheduled"].append("data-quality")
            checks.remove("data-quality")
            ctx.reporter.warn(f"step '{step.name}': data-quality needs tabular traffic (the "
                              "data step has no baseline); not scheduled")  # fmt: skip
        if "data-quality" in checks:
            scheduled = self._model_monitor(step, ctx, endpoint, data)
            if scheduled is not None:
                checks.remove("data-quality")
                result |= scheduled
                result["checks"].append("data-quality")
        if checks:  # the served model's validation metrics bound its quality on the traffic
            metrics = ctx.results.get(deploy.model, {}).get("metrics") or {}
            scheduled = self.quality_schedule(
                step, ctx, checks, endpoint=endpoint, data=data, metrics=metrics
            )
            result |= scheduled
            result["checks"] += scheduled.get("quality_checks", [])
        return result

    def _model_monitor(
        self, step: MonitorStep, ctx: Context, endpoint: str, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A Model Monitor data-quality schedule; None when Model Monitor is closed to the
        account (or not implemented by the API, as in moto): nothing is left behind."""
        name = sm_name(step.name, ctx.run.id)
        definition = sm_name(step.name, ctx.run.id, suffix="dq")
        bucket = ctx.output("bucket")
        schedule = SCHEDULES[step.schedule]
        res = self._add(
            ctx,
            "monitoring-schedule",
            name,
            instance_type=step.instance_type,
            instance_count=1,
            attrs={
                "step": step.name,
                "endpoint": endpoint,
                "job_definition": definition,
                "schedule": schedule,
                "billing": "each run bills a processing job; the ledger counts the schedule's "
                "whole interval at that instance's price, an upper bound",
            },
        )
        refusals: list[str] = []

        def closed(exc: ClientError) -> bool:
            """Model Monitor closed to the account, or an API without it (moto)."""
            if self._unimplemented(exc) or is_closed_to_account(exc):
                refusals.append(str(exc.response.get("Error", {}).get("Message") or exc))
                return True
            return False

        with ctx.creating(res):
            made = self._api(
                "sagemaker",
                "create_data_quality_job_definition",
                step=step.name,
                tolerate=closed,
                JobDefinitionName=definition,
                DataQualityBaselineConfig={
                    "ConstraintsResource": {"S3Uri": f"{data['baseline']}constraints.json"},
                    "StatisticsResource": {"S3Uri": f"{data['baseline']}statistics.json"},
                },
                DataQualityAppSpecification={
                    "ImageUri": images.image_uri("model-monitor", self.region)
                },
                DataQualityJobInput={
                    "EndpointInput": {
                        "EndpointName": endpoint,
                        "LocalPath": "/opt/ml/processing/input/endpoint",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                DataQualityJobOutputConfig={
                    "MonitoringOutputs": [
                        {
                            "S3Output": {
                                "S3Uri": f"s3://{bucket}/monitoring/{endpoint}/reports",
                                "LocalPath": "/opt/ml/processing/output",
                                "S3UploadMode": "EndOfJob",
                            }
                        }
                    ]
                },
                JobResources={
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": step.instance_type,
                        "VolumeSizeInGB": 20,
                    }
                },
                RoleArn=ctx.output("role_arn"),
                StoppingCondition={"MaxRuntimeInSeconds": 1800},
                Tags=tags(ctx),
                **secure.processing_network(ctx),
            )
        created = None
        try:
            if made is not None:
                created = self._api(
                    "sagemaker",
                    "create_monitoring_schedule",
                    step=step.name,
                    tolerate=closed,
                    MonitoringScheduleName=name,
                    MonitoringScheduleConfig={
                        "ScheduleConfig": {"ScheduleExpression": schedule},
                        "MonitoringJobDefinitionName": definition,
                        "MonitoringType": "DataQuality",
                    },
                    Tags=tags(ctx),
                )
        finally:
            if created is None:  # refused, closed or failed: nothing may stay behind
                if made is not None:
                    self._api("sagemaker", "delete_data_quality_job_definition", step=step.name,
                              tolerate=is_gone, JobDefinitionName=definition)  # fmt: skip
                ctx.ledger.close_resource(res.id, status="not-created")
        if created is None:
            url = self._client("sagemaker").meta.endpoint_url
            ctx.reporter.warn(
                f"step '{step.name}': Model Monitor is not available at {url} "
                f"({refusals[-1][:160]}); data-quality runs as scheduled processing jobs"
            )
            return None
        ctx.ledger.update_resource(
            res.id, status="Pending", provider_id=created["MonitoringScheduleArn"]
        )
        desc = self._wait(
            f"monitoring schedule {name}",
            lambda: self._api(
                "sagemaker",
                "describe_monitoring_schedule",
                step=step.name,
                MonitoringScheduleName=name,
            ),
            "MonitoringScheduleStatus",
            done=("Scheduled", "Failed", "Stopped"),
            timeout=600,
        )
        status = desc["MonitoringScheduleStatus"]
        ctx.ledger.update_resource(res.id, status=status)
        if status != "Scheduled":
            raise BackendError(
                f"step '{step.name}': monitoring schedule {name} is {status}: "
                f"{desc.get('FailureReason', 'no reason given')}"
            )
        return {
            "monitoring_schedule": name,
            "job_definition": definition,
            "baseline": data["baseline"],
            "schedule": schedule,
            "status": status,
        }


def monitor_findings(lab: Lab, step: MonitorStep, region: str) -> list[Finding]:
    """How each check will run, the images it needs in the region, and what cannot run."""
    from labctl.backends.aws.services import PROCESSING_IMAGE
    from labctl.errors import LabctlError

    findings = []
    deploy = lab.step(step.endpoint)
    assert isinstance(deploy, DeployStep)
    refused = [c for c in step.checks if c not in QUALITY_CHECKS]
    if refused:
        findings.append(Finding(step.name, f"{', '.join(refused)} monitoring is not scheduled: "
                                "it needs SageMaker Clarify, which labctl does not run",
                                fatal=False))  # fmt: skip
    checks = [c for c in step.checks if c in QUALITY_CHECKS]
    if not checks:
        return findings
    if deploy.data_capture_percent == 0:
        findings.append(
            Finding(step.name, f"deploy step '{deploy.name}' captures no traffic to check")
        )
    if "data-quality" in checks:
        findings.append(Finding(step.name, MODEL_MONITOR_NOTICE, fatal=False))
        findings += image_finding(step.name, "model-monitor", region)
    if "model-quality" in checks:
        findings.append(Finding(step.name, "model-quality runs as scheduled SageMaker "
                                "Processing jobs comparing the captured predictions with the "
                                "validation labels of requests that repeat a validation row",
                                fatal=False))  # fmt: skip
    try:  # the processing jobs' image (the fallback for data-quality too)
        images.framework_uri(PROCESSING_IMAGE, region, step.instance_type)
    except LabctlError as exc:
        findings.append(Finding(step.name, f"{exc.message}; {exc.hint}"))
    return findings
