# ---------------------------------------------------------------------------------------------
# Cloud-side expiry: at var.autostop_at a job of the lab deletes its Model Serving endpoints (they
# scale to zero meanwhile), then deletes itself. Databricks has no one-time trigger: the
# schedule is a cron of that minute and day, and the task removes the job. It runs on a
# single-node job cluster under the lab's policy (tags, node types). Without a deadline (or
# without endpoints) none of this is created; `labctl down` destroys it with the stack (a job
# that already ran is gone).
# ---------------------------------------------------------------------------------------------

module "expiry" {
  source = "./expiry"

  autostop_at    = var.autostop_at
  endpoint_names = var.endpoint_names
}

# The task's code, shipped with labctl; removed with the lab folder.
resource "databricks_workspace_file" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  path   = "${databricks_directory.lab.path}/labctl_expire_endpoints.py"
  source = module.expiry.script
}

resource "databricks_job" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  name                = substr("${var.name_prefix}-expiry", 0, 100)
  description         = "labctl autostop: deletes the serving endpoints of ${var.engineer}/${var.lab} at ${var.autostop_at}, then this job"
  tags                = local.cluster_tags
  max_concurrent_runs = 1

  schedule {
    quartz_cron_expression = module.expiry.quartz_cron_expression
    timezone_id            = module.expiry.timezone_id
    pause_status           = "UNPAUSED"
  }

  task {
    task_key = "expire_endpoints"
    # e.g. the policy's one-cluster-per-user limit while a lab run is still going
    max_retries               = 6
    min_retry_interval_millis = 600000
    timeout_seconds           = 1800

    new_cluster {
      policy_id                   = databricks_cluster_policy.lab.id
      apply_policy_default_values = true
      spark_version               = var.spark_version
      node_type_id                = var.node_type_ids[0]
      driver_node_type_id         = var.node_type_ids[0]
      num_workers                 = 0
      spark_conf = {
        "spark.databricks.cluster.profile" = "singleNode"
        "spark.master"                     = "local[*]"
      }
      custom_tags = merge(local.cluster_tags, { ResourceClass = "SingleNode" })
    }

    spark_python_task {
      python_file = databricks_workspace_file.expiry[0].path
      source      = "WORKSPACE"
      parameters  = module.expiry.parameters
    }
  }
}
