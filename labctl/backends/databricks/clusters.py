"""Job cluster specs of the databricks target: under the lab's policy, per cloud."""

from __future__ import annotations

from databricks.sdk.service import compute

from labctl import config
from labctl.backends.base import Context
from labctl.backends.databricks import nodes
from labctl.backends.databricks.names import _tags, uc_schema
from labctl.errors import Unsupported


class Clusters:
    def _cluster(
        self, ctx: Context, node_type: str, workers: int, spot: bool, env: dict[str, str]
    ) -> compute.ClusterSpec:
        """A job cluster under the lab's policy (its tags come from there too), with the node type
        and spot setting of the workspace's cloud (`[databricks] cloud`). Spot applies to the
        workers only: the driver stays on demand, so a single-node cluster is never spot.
        No `autotermination_minutes`: job clusters refuse it (they end with their run)."""
        cloud = config.settings().databricks.cloud
        node = cluster_node_type(cloud, node_type)
        tags = _tags(ctx)
        spark_conf: dict[str, str] = {}
        if workers == 0:
            spark_conf = {
                "spark.databricks.cluster.profile": "singleNode",
                "spark.master": "local[*]",
            }
            tags["ResourceClass"] = "SingleNode"
        spark_env = {
            "MLFLOW_EXPERIMENT_ID": ctx.output("experiment_id"),
            "LABCTL_RUN_ID": ctx.run.id,
            **env,
        }
        spec = compute.ClusterSpec(
            spark_version=ctx.output("spark_version"),
            node_type_id=node,
            driver_node_type_id=node,
            num_workers=workers,
            policy_id=ctx.output("cluster_policy_id"),
            apply_policy_default_values=True,
            custom_tags=tags,
            spark_conf=spark_conf or None,
            spark_env_vars=spark_env,
        )
        if uc_schema(ctx):  # a dedicated (single-user) cluster reaches Unity Catalog and volumes
            spec.data_security_mode = compute.DataSecurityMode.DATA_SECURITY_MODE_DEDICATED
        on_spot = spot_applies(spot, workers)
        if cloud == "aws":
            spec.aws_attributes = compute.AwsAttributes(
                availability=compute.AwsAvailability.SPOT_WITH_FALLBACK
                if on_spot
                else compute.AwsAvailability.ON_DEMAND,
                first_on_demand=1,  # the driver stays on demand
            )
        elif cloud == "azure":
            spec.azure_attributes = compute.AzureAttributes(
                availability=compute.AzureAvailability.SPOT_WITH_FALLBACK_AZURE
                if on_spot
                else compute.AzureAvailability.ON_DEMAND_AZURE,
                first_on_demand=1,
                spot_bid_max_price=-1 if on_spot else None,  # up to the on-demand price
            )
        else:
            spec.gcp_attributes = compute.GcpAttributes(
                availability=compute.GcpAvailability.PREEMPTIBLE_WITH_FALLBACK_GCP
                if on_spot
                else compute.GcpAvailability.ON_DEMAND_GCP,
                first_on_demand=1,
            )
        return spec


def spot_applies(spot: bool, workers: int) -> bool:
    """Whether a cluster really asks for spot: only its workers can be spot (driver on demand)."""
    return spot and workers > 0


def cluster_node_type(cloud: str, instance_type: str) -> str:
    """The cloud's node type, or Unsupported (check() reports it before anything runs)."""
    node = nodes.node_type(cloud, instance_type)
    if node is None:
        raise Unsupported(
            f"no {cloud} node type for '{instance_type}' in labctl's table",
            hint=f"use a {cloud} node type in the lab, or one of: "
            + ", ".join(nodes.NODE_TYPES[cloud]),
        )
    return node
