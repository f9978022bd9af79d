"""Node types of Databricks job clusters per cloud (no SDK: the module renderer may use it too).

The catalog names AWS node types (the price list's); a workspace on Azure or Google Cloud needs
its own. Each AWS type maps to the closest type there (same vCPUs and memory class, local SSD
where the AWS type has NVMe), from the clouds' published instance specs:

    AWS          vCPU / GiB      Azure              Google Cloud
    m5d.large     2 / 8          Standard_D2ds_v5   n2-standard-2
    m5d.xlarge    4 / 16         Standard_D4ds_v5   n2-standard-4
    i3.xlarge     4 / 30.5       Standard_E4ds_v5   n2-highmem-4
    r5d.xlarge    4 / 32         Standard_E4ds_v5   n2-highmem-4
    i3.2xlarge    8 / 61         Standard_E8ds_v5   n2-highmem-8
"""

from __future__ import annotations

# fmt: off
NODE_TYPES: dict[str, dict[str, str]] = {
    "azure": {
        "m5d.large": "Standard_D2ds_v5", "m5d.xlarge": "Standard_D4ds_v5",
        "i3.xlarge": "Standard_E4ds_v5", "r5d.xlarge": "Standard_E4ds_v5",
        "i3.2xlarge": "Standard_E8ds_v5",
    },
    "gcp": {
        "m5d.large": "n2-standard-2", "m5d.xlarge": "n2-standard-4",
        "i3.xlarge": "n2-highmem-4", "r5d.xlarge": "n2-highmem-4",
        "i3.2xlarge": "n2-highmem-8",
    },
}
# fmt: on
# The nodes the cluster policy always allows on each cloud (the first is the default).
DEFAULTS: dict[str, list[str]] = {
    "aws": ["i3.xlarge", "m5d.large"],
    "azure": [NODE_TYPES["azure"]["i3.xlarge"], NODE_TYPES["azure"]["m5d.xlarge"]],
    "gcp": [NODE_TYPES["gcp"]["i3.xlarge"], NODE_TYPES["gcp"]["m5d.xlarge"]],
}


def no_node_type(cloud: str, instance_type: str) -> str:
    """Why `instance_type` (for which `node_type` found nothing) cannot run on `cloud`."""
    if instance_type.startswith("ml."):
        return (
            f"'{instance_type}' is a SageMaker instance type, not a Databricks node type; name "
            f"a node type of the {cloud} workspace (e.g. {DEFAULTS[cloud][0]})"
        )
    return (
        f"no {cloud} node type for '{instance_type}' in labctl's table (known: "
        f"{', '.join(NODE_TYPES.get(cloud, {}))}); name a node type of the {cloud} workspace"
    )


def node_type(cloud: str, instance_type: str) -> str | None:
    """The workspace cloud's node type for a catalog (AWS) node type; a type that already
    belongs to that cloud (no `.` in its name) as is; None when labctl knows no equivalent
    (a SageMaker `ml.*` type is no Databricks node on any cloud)."""
    if instance_type.startswith("ml."):
        return None
    if cloud == "aws" or instance_type in NODE_TYPES.get(cloud, {}).values():
        return instance_type
    mapped = NODE_TYPES.get(cloud, {}).get(instance_type)
    if mapped is None and "." not in instance_type:
        return instance_type  # e.g. the workspace's own default node type from Terraform
    return mapped
