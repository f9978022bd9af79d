"""Teardown and live status: delete (or stop) one resource; "not found" counts as deleted."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from labctl.backends.aws.api import AwsApi
from labctl.backends.aws.errors import is_gone
from labctl.errors import BackendError
from labctl.ledger import Ledger, Resource, naive_utc

# kind -> (describe, stop, name parameter, status key, end time key)
JOBS = {
    "training-job": (
        "describe_training_job",
        "stop_training_job",
        "TrainingJobName",
        "TrainingJobStatus",
        "TrainingEndTime",
    ),
    "tuning-job": (
        "describe_hyper_parameter_tuning_job",
        "stop_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "HyperParameterTuningEndTime",
    ),
    "batch-job": (
        "describe_transform_job",
        "stop_transform_job",
        "TransformJobName",
        "TransformJobStatus",
        "TransformEndTime",
    ),
    "processing-job": (
        "describe_processing_job",
        "stop_processing_job",
        "ProcessingJobName",
        "ProcessingJobStatus",
        "ProcessingEndTime",
    ),
}
ENDED = ("Stopped", "Completed", "Failed")
ON_ENDPOINT = ("monitoring-schedule", "quality-schedule", "scaling-policy")  # removed before it
# A stopped job gets up to 120 s (SIGTERM) to upload its artifacts, then SageMaker stops it.
STOP_TIMEOUT = 300


class TeardownMixin(AwsApi):
    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or stop) one resource; one that is already gone counts as deleted."""
        region = resource.region or self.region
        name = resource.name
        attrs = resource.attrs or {}
        call = self._teardown_call(region)
        match resource.kind:
            case "endpoint":
                # Schedules and autoscaling hang off the endpoint: remove them first.
                for other in ledger.open_resources(resource.run_id):
                    if other.kind in ON_ENDPOINT and (other.attrs or {}).get("endpoint") == name:
                        self.teardown(other, ledger)
                        ledger.close_resource(other.id, status="deleted")
                call("sagemaker", "delete_endpoint", EndpointName=name)
            case "endpoint-config":
                call("sagemaker", "delete_endpoint_config", EndpointConfigName=name)
            case "model":
                call("sagemaker", "delete_model", ModelName=name)
            case "scaling-policy":
                target = {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": attrs.get("resource_id", ""),
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                }
                call("application-autoscaling", "delete_scaling_policy", PolicyName=name, **target)
                call("application-autoscaling", "deregister_scalable_target", **target)
            case "monitoring-schedule":
                if call(
                    "sagemaker",
                    "delete_monitoring_schedule",
                    MonitoringScheduleName=name,
                    also=self._unimplemented,
                ):
                    # The job definition can go once the schedule is gone.
                    with contextlib.suppress(BackendError):
                        self._wait(
                            f"monitoring schedule {name} deletion",
                            lambda: (
                                call(
                                    "sagemaker",
                                    "describe_monitoring_schedule",
                                    MonitoringScheduleName=name,
                                )
                                or {"MonitoringScheduleStatus": "Deleted"}
                            ),
                            "MonitoringScheduleStatus",
                            done=("Deleted",),
                            timeout=300,
                        )
                if attrs.get("job_definition"):
                    call(
                        "sagemaker",
                        "delete_data_quality_job_definition",
                        JobDefinitionName=attrs["job_definition"],
                    )
            case "quality-schedule":
                self.remove_quality_schedule(resource, ledger)  # type: ignore[attr-defined]
            case "training-job" | "tuning-job" | "batch-job" | "processing-job":
                self._stop_job(resource, ledger, call)
            case "recommendation-job":  # its load-test endpoints go with it
                call("sagemaker", "stop_inference_recommendations_job", JobName=name,
                     also=_not_running)  # fmt: skip
            case "comprehend-job" if resource.provider_id:  # stop it if it still runs
                call("comprehend", f"stop_{attrs.get('job', 'entities_detection')}_job",
                     JobId=resource.provider_id, also=_not_running)  # fmt: skip
            case "pipeline":  # its definition; executions stop with their jobs
                call("sagemaker", "delete_pipeline", PipelineName=name)
            case "feature-group":
                call("sagemaker", "delete_feature_group", FeatureGroupName=name)
            case "model-package" if resource.provider_id:
                call("sagemaker", "delete_model_package", ModelPackageName=resource.provider_id)
            case "model-package-group":
                call("sagemaker", "delete_model_package_group", ModelPackageGroupName=name)
            case _:
                pass  # the stack (terraform) and anything without a cloud-side object

    def _stop_job(self, resource: Resource, ledger: Ledger, call: Callable[..., Any]) -> None:
        """Stop a running job and wait (bounded) until SageMaker says it has ended, so it is
        not closed in the ledger, nor its bucket destroyed, while it still bills and uploads.
        Closes the row at the job's own end time; a job still stopping after STOP_TIMEOUT
        raises (its row stays open)."""
        describe, stop, key, status_key, end_key = JOBS[resource.kind]
        desc = call("sagemaker", describe, **{key: resource.name})
        if desc is None:
            return
        if desc[status_key] == "InProgress":
            call("sagemaker", stop, **{key: resource.name})
        if desc[status_key] not in ENDED:
            desc = self._wait(
                f"{resource.kind} {resource.name} stopping",
                lambda: (
                    call("sagemaker", describe, **{key: resource.name}) or {status_key: "Stopped"}
                ),
                status_key,
                done=ENDED,
                timeout=STOP_TIMEOUT,
            )
        billable = desc.get("BillableTimeInSeconds")
        ledger.close_resource(
            resource.id,
            status=desc[status_key],
            stopped_at=naive_utc(desc.get(end_key)),
            **({"billable_seconds": float(billable)} if billable is not None else {}),
        )

    def live_status(self, resource: Resource) -> str:
        """The resource's status as SageMaker reports it now ('gone' when it no longer exists)."""
        describe = {
            "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
            "training-job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
            "tuning-job": (
                "describe_hyper_parameter_tuning_job",
                "HyperParameterTuningJobName",
                "HyperParameterTuningJobStatus",
            ),
            "batch-job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
            "processing-job": (
                "describe_processing_job",
                "ProcessingJobName",
                "ProcessingJobStatus",
            ),
            "recommendation-job": (
                "describe_inference_recommendations_job",
                "JobName",
                "Status",
            ),
            "feature-group": (
                "describe_feature_group",
                "FeatureGroupName",
                "FeatureGroupStatus",
            ),
            "monitoring-schedule": (
                "describe_monitoring_schedule",
                "MonitoringScheduleName",
                "MonitoringScheduleStatus",
            ),
            "model": ("describe_model", "ModelName", None),
            "endpoint-config": ("describe_endpoint_config", "EndpointConfigName", None),
        }.get(resource.kind)
        if describe is None:
            return resource.status
        op, key, status_key = describe
        try:
            desc = self._api(
                "sagemaker",
                op,
                region=resource.region,
                tolerate=is_gone,
                **{key: resource.name},
            )
        except BackendError as exc:
            return f"unknown ({exc.message[:60]})"
        if desc is None:
            return "gone"
        return desc[status_key] if status_key else "exists"


def _not_running(exc: Any) -> bool:
    """A stop refused because the job has already ended (nothing left to stop)."""
    err = exc.response.get("Error", {})
    code = err.get("Code")
    return code in ("ValidationException", "InvalidRequestException", "JobNotFoundException") and (
        "status" in err.get("Message", "").lower() or code == "JobNotFoundException"
    )
