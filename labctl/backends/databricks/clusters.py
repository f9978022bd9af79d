"""Job cluster specs of the databricks target: under the lab's policy, per cloud."""

from __future__ import annotations

from databricks.sdk.service import compute

from labctl import config
from labctl.backends.base import Context
from labctl.backends.databricks.names import _tags


class Clusters:
    def _cluster(
        self, ctx: Context, node_type: str, workers: int, spot: bool, env: dict[str, str]
    ) -> compute.ClusterSpec:
        """A job cluster under the lab's policy; tags and auto-termination come from it too."""
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
            node_type_id=node_type,
            driver_node_type_id=node_type,
            num_workers=workers,
            policy_id=ctx.output("cluster_policy_id"),
            apply_policy_default_values=True,
            custom_tags=tags,
            spark_conf=spark_conf or None,
            spark_env_vars=spark_env,
        )
        if config.settings().databricks.cloud == "aws":
            spec.aws_attributes = compute.AwsAttributes(
                availability=(
                    compute.AwsAvailability.SPOT_WITH_FALLBACK
                    if spot
                    else compute.AwsAvailability.ON_DEMAND
                ),
                first_on_demand=1,  # the driver stays on demand
            )
        return spec
