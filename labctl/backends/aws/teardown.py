"""Teardown and live status: delete (or stop) one resource; "not found" counts as deleted."""

from __future__ import annotations

import contextlib

from labctl.backends.aws.api import AwsApi
from labctl.backends.aws.errors import is_gone
from labctl.errors import BackendError
from labctl.ledger import Ledger, Resource


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
                    if other.kind in ("monitoring-schedule", "scaling-policy") and (
                        (other.attrs or {}).get("endpoint") == name
                    ):
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
            case "training-job":
                desc = call("sagemaker", "describe_training_job", TrainingJobName=name)
                if desc and desc["TrainingJobStatus"] == "InProgress":
                    call("sagemaker", "stop_training_job", TrainingJobName=name)
            case "tuning-job":
                desc = call(
                    "sagemaker",
                    "describe_hyper_parameter_tuning_job",
                    HyperParameterTuningJobName=name,
                )
                if desc and desc["HyperParameterTuningJobStatus"] == "InProgress":
                    call(
                        "sagemaker",
                        "stop_hyper_parameter_tuning_job",
                        HyperParameterTuningJobName=name,
                    )
            case "batch-job":
                desc = call("sagemaker", "describe_transform_job", TransformJobName=name)
                if desc and desc["TransformJobStatus"] == "InProgress":
                    call("sagemaker", "stop_transform_job", TransformJobName=name)
            case _:
                pass  # the stack (terraform) and anything without a cloud-side object

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
