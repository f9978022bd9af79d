"""Model Monitor: a data-quality schedule on an endpoint, baselined on the training data."""

from __future__ import annotations

from typing import Any

from labctl.backends.aws import images
from labctl.backends.aws.algorithms import data_of
from labctl.backends.aws.api import AwsApi, sm_name, tags
from labctl.backends.aws.checks import image_finding
from labctl.backends.aws.errors import is_gone
from labctl.backends.base import Context, Finding
from labctl.catalog import DeployStep, Lab, MonitorStep
from labctl.errors import BackendError

SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}
MODEL_MONITOR_NOTICE = (
    "Amazon SageMaker Model Monitor is closed to new AWS customers (AWS documentation): an "
    "account that has not used it has CreateMonitoringSchedule refused, and this step fails "
    "after the endpoint is up; labctl does not yet run the data-quality check as a Processing "
    "job instead"
)


class MonitoringMixin(AwsApi):
    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        """A Model Monitor data-quality schedule on the endpoint, baselined on the training data.

        The baseline (statistics.json, constraints.json) is computed by the data step on this
        machine; model quality, bias and explainability are not scheduled yet (they need ground
        truth labels or Clarify). An AWS-compatible endpoint without CreateMonitoringSchedule
        (moto) gets a result saying so, and nothing is left behind.
        """
        deploy = ctx.lab.step(step.endpoint)
        assert isinstance(deploy, DeployStep)
        endpoint = ctx.result(step.name, step.endpoint)["endpoint"]
        data = ctx.result(step.name, data_of(ctx.lab, deploy.model))
        not_scheduled = [c for c in step.checks if c != "data-quality"]
        if "data-quality" not in step.checks:
            return {
                "skipped": f"{', '.join(not_scheduled)} monitoring is not scheduled by labctl "
                "(see `labctl plan`); nothing was created",
                "endpoint": endpoint,
                "not_scheduled": not_scheduled,
            }
        if not data.get("baseline") or deploy.data_capture_percent == 0:
            return {
                "skipped": "data-quality monitoring needs tabular traffic and data capture "
                f"(capture {deploy.data_capture_percent}%)",
                "endpoint": endpoint,
            }
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
        with ctx.creating(res):
            self._api(
                "sagemaker",
                "create_data_quality_job_definition",
                step=step.name,
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
            )
        try:
            created = self._api(
                "sagemaker",
                "create_monitoring_schedule",
                step=step.name,
                tolerate=self._unimplemented,
                MonitoringScheduleName=name,
                MonitoringScheduleConfig={
                    "ScheduleConfig": {"ScheduleExpression": schedule},
                    "MonitoringJobDefinitionName": definition,
                    "MonitoringType": "DataQuality",
                },
                Tags=tags(ctx),
            )
        except BackendError:
            self._api(
                "sagemaker",
                "delete_data_quality_job_definition",
                step=step.name,
                tolerate=is_gone,
                JobDefinitionName=definition,
            )
            ctx.ledger.close_resource(res.id, status="not-created")
            raise
        result = {
            "monitoring_schedule": name if created else None,
            "job_definition": definition,
            "endpoint": endpoint,
            "baseline": data["baseline"],
            "schedule": schedule,
            "checks": ["data-quality"],
            "not_scheduled": not_scheduled,
        }
        if created is None:
            self._api(
                "sagemaker",
                "delete_data_quality_job_definition",
                step=step.name,
                tolerate=is_gone,
                JobDefinitionName=definition,
            )
            ctx.ledger.close_resource(res.id, status="not-created")
            url = self._client("sagemaker").meta.endpoint_url
            return {
                **result,
                "skipped": f"the SageMaker API at {url} does not implement "
                "CreateMonitoringSchedule (moto); nothing was scheduled",
            }
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
        return {**result, "status": status}


def monitor_findings(lab: Lab, step: MonitorStep, region: str) -> list[Finding]:
    """Model Monitor's availability, the image, and the checks labctl cannot schedule."""
    findings = []
    deploy = lab.step(step.endpoint)
    assert isinstance(deploy, DeployStep)
    others = [c for c in step.checks if c != "data-quality"]
    if others:
        findings.append(
            Finding(
                step.name,
                f"{', '.join(others)} monitoring is refused: it needs ground-truth labels merged "
                "with the captured traffic (or Clarify), which labctl does not provide; "
                + (
                    "only data-quality is scheduled"
                    if "data-quality" in step.checks
                    else "nothing is scheduled for this step (ask for `checks: [data-quality]`)"
                ),
                fatal=False,
            )
        )
    if "data-quality" in step.checks:
        findings.append(Finding(step.name, MODEL_MONITOR_NOTICE, fatal=False))
        findings += image_finding(step.name, "model-monitor", region)
        if deploy.data_capture_percent == 0:
            findings.append(
                Finding(step.name, f"deploy step '{deploy.name}' captures no traffic to monitor")
            )
    return findings
