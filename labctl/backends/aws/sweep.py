"""`labctl sweep` on aws: SageMaker resources carrying the labctl tags, and their deletion.

Discovery asks the Resource Groups Tagging API (`get_resources`, TagFilters on
`labctl-engineer`) for the tags of every tagged SageMaker resource in one paginated pass, then
lists what can still bill (endpoints, endpoint configs, models, training / tuning / transform /
processing jobs in progress, notebook instances, monitoring schedules, and the quality-check
schedules in the labs' tagged schedule groups, which start a processing job every hour); a
listed resource the Tagging API did not return (it is eventually consistent; some endpoints do
not serve it) has its tags read with `list_tags`. Deletion is the aws teardown's own
(`TeardownMixin.teardown`); notebook instances, which labctl never creates, are stopped, then
deleted once stopped.
"""

from __future__ import annotations

from typing import Any

from labctl.backends.aws.backend import AwsBackend
from labctl.backends.aws.errors import is_gone
from labctl.sweep import ENGINEER_TAG, DetachedLedger, Stray

# kind -> (list operation, list key, name key, ARN key, extra list parameters)
LISTINGS: dict[str, tuple[str, str, str, str, dict[str, str]]] = {
    "monitoring-schedule": ("list_monitoring_schedules", "MonitoringScheduleSummaries",
                            "MonitoringScheduleName", "MonitoringScheduleArn", {}),
    "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn", {}),
    "endpoint-config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
                        "EndpointConfigArn", {}),
    "model": ("list_models", "Models", "ModelName", "ModelArn", {}),
    "tuning-job": ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries",
                   "HyperParameterTuningJobName", "HyperParameterTuningJobArn",
                   {"StatusEquals": "InProgress"}),
    "training-job": ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName",
                     "TrainingJobArn", {"StatusEquals": "InProgress"}),
    "batch-job": ("list_transform_jobs", "TransformJobSummaries", "TransformJobName",
                  "TransformJobArn", {"StatusEquals": "InProgress"}),
    "processing-job": ("list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobName",
                       "ProcessingJobArn", {"StatusEquals": "InProgress"}),
    "notebook-instance": ("list_notebook_instances", "NotebookInstances",
                          "NotebookInstanceName", "NotebookInstanceArn", {}),
}  # fmt: skip
NOTEBOOK_STOP_TIMEOUT = 900
QUALITY_GROUP = "-quality-"  # in the name of a lab stack's quality-check schedule group


def discover(backend: AwsBackend, engineer_tag: str | None) -> list[Stray]:
    """Tagged SageMaker resources (of one engineer's tag value, or everyone's) in the region."""
    tagged = _tagged(backend, engineer_tag)
    found: list[Stray] = []
    for kind, (op, key, name_key, arn_key, params) in LISTINGS.items():
        for item in backend._listing(op, key, **params):
            arn = item[arn_key]
            tags = tagged.get(arn)
            if tags is None:
                tags = _tags(backend, arn)
            if ENGINEER_TAG not in tags or engineer_tag not in (None, tags[ENGINEER_TAG]):
                continue
            stray = Stray("aws", kind, item[name_key], arn, backend.region, tags)
            _describe(backend, stray, item)
            found.append(stray)
    return _quality_schedules(backend, engineer_tag) + found


def delete(backend: AwsBackend, stray: Stray, ledger: DetachedLedger) -> None:
    """Delete (or stop) one stray through the aws teardown; already gone counts as deleted."""
    if stray.kind == "notebook-instance":
        _delete_notebook(backend, stray)
        return
    backend.teardown(stray.as_resource(), ledger)  # type: ignore[arg-type]


# --- internals ----------------------------------------------------------------------------------


def _quality_schedules(backend: AwsBackend, engineer_tag: str | None) -> list[Stray]:
    """The monitor steps' quality-check schedules (quality.py), which start a processing job
    every hour: schedules take no tags, so they are found in the lab stacks' tagged groups."""
    found: list[Stray] = []
    for group in _pages(backend, "list_schedule_groups", "ScheduleGroups"):
        if QUALITY_GROUP not in group["Name"]:
            continue
        listed = backend._api("scheduler", "list_tags_for_resource", tolerate=is_gone,
                              ResourceArn=group["Arn"]) or {}  # fmt: skip
        tags = {t["Key"]: t["Value"] for t in listed.get("Tags", [])}
        if ENGINEER_TAG not in tags or engineer_tag not in (None, tags[ENGINEER_TAG]):
            continue
        for item in _pages(backend, "list_schedules", "Schedules", GroupName=group["Name"]):
            attrs = {"group": group["Name"], "job_prefix": item["Name"]}
            stray = Stray("aws", "quality-schedule", item["Name"], item["Arn"], backend.region,
                          tags, status=item.get("State", ""), attrs=attrs)  # fmt: skip
            found.append(stray)
    return found


def _pages(backend: AwsBackend, op: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of an EventBridge Scheduler listing (all pages)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = backend._api("scheduler", op, **params, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def _tagged(backend: AwsBackend, engineer_tag: str | None) -> dict[str, dict[str, str]]:
    """ARN -> tags of every SageMaker resource the Tagging API returns with `labctl-engineer`."""
    tag_filter: dict[str, Any] = {"Key": ENGINEER_TAG}
    if engineer_tag:
        tag_filter["Values"] = [engineer_tag]
    tagged: dict[str, dict[str, str]] = {}
    token = ""
    while True:
        page = backend._api(
            "resourcegroupstaggingapi", "get_resources",
            TagFilters=[tag_filter], ResourceTypeFilters=["sagemaker"],
            ResourcesPerPage=100, PaginationToken=token,
        )  # fmt: skip
        for mapping in page.get("ResourceTagMappingList", []):
            tags = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
            tagged[mapping["ResourceARN"]] = tags
        token = page.get("PaginationToken") or ""
        if not token:
            return tagged


def _tags(backend: AwsBackend, arn: str) -> dict[str, str]:
    found = backend._api("sagemaker", "list_tags", tolerate=is_gone, ResourceArn=arn)
    return {t["Key"]: t["Value"] for t in (found or {}).get("Tags", [])}


def _describe(backend: AwsBackend, stray: Stray, item: dict[str, Any]) -> None:
    """Status, instances billed per hour, and what the teardown needs, of one tagged resource."""

    def describe(op: str, **params: str) -> dict[str, Any]:
        return backend._api("sagemaker", op, tolerate=is_gone, **params) or {}

    match stray.kind:
        case "endpoint":
            desc = describe("describe_endpoint", EndpointName=stray.name)
            stray.status = desc.get("EndpointStatus", "")
            current = {v["VariantName"]: v.get("CurrentInstanceCount")
                       for v in desc.get("ProductionVariants", [])}  # fmt: skip
            config = describe("describe_endpoint_config",
                              EndpointConfigName=desc.get("EndpointConfigName", ""))  # fmt: skip
            stray.instances = [
                (v["InstanceType"], current.get(v["VariantName"]) or v["InitialInstanceCount"])
                for v in config.get("ProductionVariants", [])
                if v.get("InstanceType")  # serverless variants bill per request
            ]
        case "training-job":
            desc = describe("describe_training_job", TrainingJobName=stray.name)
            stray.status = desc.get("TrainingJobStatus", "")
            rc = desc.get("ResourceConfig", {})
            if rc.get("InstanceType"):
                stray.instances = [(rc["InstanceType"], rc.get("InstanceCount", 1))]
        case "tuning-job":
            desc = describe("describe_hyper_parameter_tuning_job",
                            HyperParameterTuningJobName=stray.name)  # fmt: skip
            stray.status = desc.get("HyperParameterTuningJobStatus", "")
            rc = desc.get("TrainingJobDefinition", {}).get("ResourceConfig", {})
            parallel = desc.get("HyperParameterTuningJobConfig", {}).get("ResourceLimits", {})
            if rc.get("InstanceType"):
                count = rc.get("InstanceCount", 1) * parallel.get("MaxParallelTrainingJobs", 1)
                stray.instances = [(rc["InstanceType"], count)]
        case "processing-job":
            desc = describe("describe_processing_job", ProcessingJobName=stray.name)
            stray.status = desc.get("ProcessingJobStatus", "")
            cluster = desc.get("ProcessingResources", {}).get("ClusterConfig", {})
            if cluster.get("InstanceType"):
                stray.instances = [(cluster["InstanceType"], cluster.get("InstanceCount", 1))]
        case "batch-job":
            desc = describe("describe_transform_job", TransformJobName=stray.name)
            stray.status = desc.get("TransformJobStatus", "")
            tr = desc.get("TransformResources", {})
            if tr.get("InstanceType"):
                stray.instances = [(tr["InstanceType"], tr.get("InstanceCount", 1))]
        case "notebook-instance":
            stray.status = item.get("NotebookInstanceStatus", "")
            if stray.status in ("InService", "Pending") and item.get("InstanceType"):
                stray.instances = [(item["InstanceType"], 1)]
        case "monitoring-schedule":
            stray.status = item.get("MonitoringScheduleStatus", "")
            desc = describe("describe_monitoring_schedule", MonitoringScheduleName=stray.name)
            config = desc.get("MonitoringScheduleConfig", {})
            if config.get("MonitoringJobDefinitionName"):
                stray.attrs["job_definition"] = config["MonitoringJobDefinitionName"]
        case _:
            stray.status = "exists"


def _delete_notebook(backend: AwsBackend, stray: Stray) -> None:
    call = backend._teardown_call(stray.region or backend.region)
    name = {"NotebookInstanceName": stray.name}
    desc = call("sagemaker", "describe_notebook_instance", **name)
    if desc is None:
        return
    if desc["NotebookInstanceStatus"] in ("InService", "Pending", "Updating"):
        call("sagemaker", "stop_notebook_instance", **name)
    if desc["NotebookInstanceStatus"] != "Stopped":
        backend._wait(
            f"notebook instance {stray.name} stopping",
            lambda: (
                call("sagemaker", "describe_notebook_instance", **name)
                or {"NotebookInstanceStatus": "Stopped"}
            ),
            "NotebookInstanceStatus",
            done=("Stopped", "Failed"),
            timeout=NOTEBOOK_STOP_TIMEOUT,
        )
    call("sagemaker", "delete_notebook_instance", **name)
