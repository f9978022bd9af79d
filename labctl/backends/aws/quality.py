"""Quality checks as scheduled SageMaker Processing jobs, the path where Model Monitor is closed.

A monitor step's data-quality check runs in Model Monitor when the account may use it
(monitoring.py); where Model Monitor is closed to the account, and for model quality everywhere,
an EventBridge Scheduler schedule in the lab's group (quality.tf) starts a processing job every
hour (or day) through the universal target `sagemaker:CreateProcessingJob`, as the role the
stack made for it. Each job runs quality_job.py over the hour's captured traffic (the schedule's
`<aws.scheduler.scheduled-time>` closes the window), the training baseline and the validation
labels, and writes Model Monitor's reports under `monitoring/<endpoint>/quality/<time>/`.

In the ledger: one `quality-schedule` row at the processing instance's launch price, open from
the step to `down`; `down` deletes the schedule, stops a job still running, and closes the row
at the billable seconds of the jobs the schedule started (so the ledger holds what they cost).
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

from labctl.backends.aws import secure
from labctl.backends.aws.api import AwsApi, tags
from labctl.backends.aws.errors import is_gone
from labctl.backends.aws.names import quality_job_prefix
from labctl.backends.aws.services import processing_request
from labctl.backends.base import Context
from labctl.catalog import MonitorStep
from labctl.errors import BackendError
from labctl.ledger import Ledger, Resource, Run, naive_utc

QUALITY_SCRIPT = Path(__file__).with_name("quality_job.py")
TARGET_ARN = "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
EXECUTION_ID = "<aws.scheduler.execution-id>"  # EventBridge Scheduler substitutes these
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
RATES = {"hourly": ("rate(1 hour)", 1), "daily": ("rate(1 day)", 24)}
MARKER = "labctl-quality-checks.json"  # keeps the capture prefix non-empty before any traffic
ENDED = ("Completed", "Failed", "Stopped")
# what UpdateSchedule must be given again (it replaces the whole schedule)
UPDATABLE = ("ScheduleExpression", "FlexibleTimeWindow", "Target", "State", "Description",
             "StartDate", "ScheduleExpressionTimezone", "KmsKeyArn")  # fmt: skip
STOPPED = {"ProcessingJobStatus": "Stopped"}  # a job gone while stopping


class QualityChecksMixin(AwsApi):
    def quality_schedule(
        self, step: MonitorStep, ctx: Context, checks: list[str], *, endpoint: str,
        data: dict[str, Any], metrics: dict[str, float],
    ) -> dict[str, Any]:  # fmt: skip
        """Schedule `checks` of the endpoint's captured traffic as processing jobs; `data`: the
        data step's result, `metrics`: the served model's (its validation ones bound model
        quality)."""
        group, role = ctx.output("quality_schedule_group"), ctx.output("quality_role_arn")
        if not group or not role:
            raise BackendError(
                f"step '{step.name}': the lab's stack has no quality-check schedule group or role",
                hint=f"`labctl down {ctx.lab_name}` then `labctl up {ctx.lab_name}` applies the "
                "current module (quality.tf)",
            )
        bucket = ctx.output("bucket")
        prefix = quality_job_prefix(step.name, ctx.run.id)
        capture = f"s3://{bucket}/datacapture/{endpoint}/"
        output = f"s3://{bucket}/monitoring/{endpoint}/quality/"
        truth = data.get("channels", {}).get("validation")
        if "model-quality" in checks and not truth:
            checks = [c for c in checks if c != "model-quality"]
            ctx.reporter.warn(f"step '{step.name}': model-quality needs the data step's "
                              "validation labels; not scheduled")  # fmt: skip
            if not checks:
                return {"skipped": "no validation labels for model-quality; nothing scheduled"}
        inputs = {"capture": (capture, "FullyReplicated")}
        if "data-quality" in checks:
            inputs["baseline"] = (str(data["baseline"]), "FullyReplicated")
        if "model-quality" in checks:
            inputs["truth"] = (str(truth), "FullyReplicated")
        expression, hours = RATES[step.schedule]
        arguments = ["--checks", ",".join(checks), "--window-end", SCHEDULED_TIME,
                     "--window-hours", str(hours)]  # fmt: skip
        arguments += [f"--baseline-metric={k}={v}" for k, v in sorted(metrics.items())
                      if k.startswith("validation:") and v is not None]  # fmt: skip
        request = processing_request(
            f"{prefix}-{EXECUTION_ID}", role_arn=ctx.output("role_arn"), region=self.region,
            script=QUALITY_SCRIPT.name, code_uri=f"s3://{bucket}/code/{prefix}/{QUALITY_SCRIPT.name}",
            inputs=inputs, output=f"{output}{SCHEDULED_TIME}/", instance_type=step.instance_type,
            instance_count=1, arguments=arguments, tags=tags(ctx),
            network=secure.processing_network(ctx),
        )  # fmt: skip
        self._upload(step.name, QUALITY_SCRIPT, bucket, f"code/{prefix}/{QUALITY_SCRIPT.name}")
        marker = json.dumps({"quality_checks": prefix, "checks": checks}).encode()
        self._api("s3", "put_object", step=step.name, Bucket=bucket,
                  Key=f"datacapture/{endpoint}/{MARKER}", Body=marker)  # fmt: skip
        res = self._add(
            ctx, "quality-schedule", prefix, instance_type=step.instance_type, instance_count=1,
            attrs={
                "step": step.name, "endpoint": endpoint, "group": group, "schedule": expression,
                "checks": checks, "job_prefix": prefix, "reports": output,
                "billing": "each run bills a processing job; `down` closes this row at the "
                "billable seconds of the jobs it started (until then: the whole interval)",
            },
        )  # fmt: skip
        schedule: dict[str, Any] = {
            "Name": prefix, "GroupName": group, "ScheduleExpression": expression,
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED",
            "Description": f"labctl {ctx.lab_name} {step.name}: {', '.join(checks)} of {endpoint}",
            "Target": {
                "Arn": TARGET_ARN, "RoleArn": role, "Input": json.dumps(request),
                "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
            },
        }  # fmt: skip
        if ctx.run.autostop_at:  # no traffic after the endpoints' deadline: no more checks
            end = ctx.run.autostop_at.replace(tzinfo=UTC)  # the ledger's times are naive UTC
            schedule |= {"EndDate": end, "ActionAfterCompletion": "DELETE"}
        with ctx.creating(res):
            created = self._api("scheduler", "create_schedule", step=step.name, **schedule)
        ctx.ledger.update_resource(res.id, status="ENABLED", provider_id=created["ScheduleArn"])
        return {
            "quality_schedule": prefix,
            "schedule_group": group,
            "schedule": expression,
            "quality_checks": checks,
            "reports": output,
        }

    def remove_quality_schedule(self, resource: Resource, ledger: Ledger) -> None:
        """Delete the schedule, stop its jobs still running, and close the row at their billable
        seconds (the jobs the schedule started, found by name and creation time)."""
        attrs = resource.attrs or {}
        region = resource.region or self.region
        self._api("scheduler", "delete_schedule", region=region, tolerate=is_gone,
                  Name=resource.name, GroupName=attrs.get("group", "default"))  # fmt: skip
        prefix = str(attrs.get("job_prefix") or resource.name)
        # a schedule made again by `labctl start` has the same name: count only its own jobs
        since = (
            {"CreationTimeAfter": resource.started_at.replace(tzinfo=UTC)}
            if resource.started_at  # not for a sweep's detached row
            else {}
        )
        names = [
            job["ProcessingJobName"]
            for job in self._listing("list_processing_jobs", "ProcessingJobSummaries",
                                     region=region, NameContains=prefix, **since)
            if job["ProcessingJobName"].startswith(f"{prefix}-")
        ]  # fmt: skip
        seconds = 0.0
        for name in names:
            desc = self._describe_job(name, region)
            if desc is None:
                continue
            if desc["ProcessingJobStatus"] == "InProgress":
                self._api("sagemaker", "stop_processing_job", region=region, tolerate=is_gone,
                          ProcessingJobName=name)  # fmt: skip
            if desc["ProcessingJobStatus"] not in ENDED:
                desc = self._wait(
                    f"processing job {name} stopping",
                    lambda n=name: self._describe_job(n, region) or STOPPED,
                    "ProcessingJobStatus",
                    done=ENDED,
                    timeout=300,
                )
            start, end = desc.get("ProcessingStartTime"), desc.get("ProcessingEndTime")
            if start and end:
                seconds += max(0.0, (naive_utc(end) - naive_utc(start)).total_seconds())
        ledger.close_resource(resource.id, status="deleted", billable_seconds=seconds)

    def follow_deadline(self, run: Run, ledger: Ledger) -> None:
        """The run's quality-check schedules end at its (moved) deadline, as they began."""
        for res in ledger.open_resources(run.id):
            if res.kind != "quality-schedule" or not run.autostop_at:
                continue
            key = {"Name": res.name, "GroupName": (res.attrs or {}).get("group", "default")}
            found = self._api("scheduler", "get_schedule", region=res.region, **key)
            kept = {k: found[k] for k in UPDATABLE if k in found}
            self._api("scheduler", "update_schedule", region=res.region, **key, **kept,
                      EndDate=run.autostop_at.replace(tzinfo=UTC),
                      ActionAfterCompletion="DELETE")  # fmt: skip

    def _describe_job(self, name: str, region: str) -> dict[str, Any] | None:
        return self._api("sagemaker", "describe_processing_job", region=region, tolerate=is_gone,  # type: ignore[no-any-return]
                         ProcessingJobName=name)  # fmt: skip
