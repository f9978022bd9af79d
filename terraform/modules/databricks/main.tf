locals {
  cluster_tags = {
    "labctl-engineer" = lookup(var.tags, "labctl-engineer", var.engineer)
    "labctl-lab"      = lookup(var.tags, "labctl-lab", var.lab)
    "labctl-run"      = lookup(var.tags, "labctl-run", var.run_id)
  }

  # Shared (not /Users/<me>): the folder must be reachable by the engineer, by reviewers and by
  # labctl's own principal (often a service principal, which has no /Users home), and its path
  # must be predictable without looking up the caller.
  workspace_folder = "/Shared/labctl/${var.engineer}/${var.lab}"

  # Spot with on-demand fallback may be asked for; on-demand is the default; the driver (the
  # first node) always stays on demand. The attribute names and values differ per cloud.
  availability = {
    aws   = { spot = "SPOT_WITH_FALLBACK", on_demand = "ON_DEMAND" }
    azure = { spot = "SPOT_WITH_FALLBACK_AZURE", on_demand = "ON_DEMAND_AZURE" }
    gcp   = { spot = "PREEMPTIBLE_WITH_FALLBACK_GCP", on_demand = "ON_DEMAND_GCP" }
  }[var.cloud]
  spot_rules = {
    "${var.cloud}_attributes.availability" = {
      type         = "allowlist"
      values       = [local.availability.spot, local.availability.on_demand]
      defaultValue = local.availability.on_demand
      isOptional   = true
    }
    "${var.cloud}_attributes.first_on_demand" = {
      type         = "range"
      minValue     = 1
      defaultValue = 1
      isOptional   = true
    }
  }

  # Rules for every cluster of the lab. No auto-termination here: job clusters (runs/submit)
  # reject `autotermination_minutes` (terraform-provider-databricks#3641); they end with their
  # run. The all-purpose policy below adds it.
  policy_definition = merge(
    {
      "spark_version" = {
        type  = "fixed"
        value = var.spark_version
      }
      "node_type_id" = {
        type         = "allowlist"
        values       = var.node_type_ids
        defaultValue = var.node_type_ids[0]
      }
      # Without this the driver could be any (expensive) node type.
      "driver_node_type_id" = {
        type         = "allowlist"
        values       = var.node_type_ids
        defaultValue = var.node_type_ids[0]
      }
      "num_workers" = {
        type         = "range"
        minValue     = 0
        maxValue     = var.max_workers
        defaultValue = min(1, var.max_workers)
        isOptional   = true
      }
      "autoscale.max_workers" = {
        type         = "range"
        maxValue     = var.max_workers
        defaultValue = var.max_workers
        isOptional   = true
      }
      # Pools carry their own node type: forbidding them keeps the node allowlist meaningful.
      "instance_pool_id" = {
        type   = "forbidden"
        hidden = true
      }
      "driver_instance_pool_id" = {
        type   = "forbidden"
        hidden = true
      }
    },
    local.spot_rules,
    # One fixed rule per labctl tag.
    { for k, v in local.cluster_tags : "custom_tags.${k}" => { type = "fixed", value = v } },
    # Optional DBU/hour cap (a for-expression, not a conditional: the two branches' object types
    # would differ).
    {
      for k, v in { "dbus_per_hour" = { type = "range", maxValue = var.max_dbus_per_hour } } :
      k => v if var.max_dbus_per_hour != null
    },
  )

  job_policy_definition = merge(local.policy_definition, {
    "cluster_type" = { type = "fixed", value = "job" }
  })

  all_purpose_policy_definition = merge(local.policy_definition, {
    "cluster_type" = { type = "fixed", value = "all-purpose" }
    "autotermination_minutes" = {
      type   = "fixed"
      value  = var.autotermination_minutes
      hidden = false
    }
  })
}

# The policy labctl's job runs use (runs/submit job clusters).
resource "databricks_cluster_policy" "lab" {
  name = substr(var.name_prefix, 0, 100)
  description = join(" ", [
    "labctl guardrails for ${var.engineer}/${var.lab} job clusters:",
    "<= ${var.max_workers} workers, nodes ${join("/", var.node_type_ids)} (${var.cloud}),",
    "runtime ${var.spark_version}.",
  ])
  definition            = jsonencode(local.job_policy_definition)
  max_clusters_per_user = var.max_clusters_per_user
}

# The same guardrails for clusters an engineer starts by hand, plus auto-termination.
resource "databricks_cluster_policy" "all_purpose" {
  name = substr("${var.name_prefix}-interactive", 0, 100)
  description = join(" ", [
    "labctl guardrails for ${var.engineer}/${var.lab} all-purpose clusters:",
    "auto-termination ${var.autotermination_minutes} min, <= ${var.max_workers} workers,",
    "nodes ${join("/", var.node_type_ids)} (${var.cloud}), runtime ${var.spark_version}.",
  ])
  definition            = jsonencode(local.all_purpose_policy_definition)
  max_clusters_per_user = var.max_clusters_per_user
}

resource "databricks_permissions" "policy_use" {
  for_each = length(var.policy_user_names) + length(var.policy_group_names) == 0 ? {} : {
    job         = databricks_cluster_policy.lab.id
    all_purpose = databricks_cluster_policy.all_purpose.id
  }

  cluster_policy_id = each.value

  dynamic "access_control" {
    for_each = var.policy_user_names
    content {
      user_name        = access_control.value
      permission_level = "CAN_USE"
    }
  }

  dynamic "access_control" {
    for_each = var.policy_group_names
    content {
      group_name       = access_control.value
      permission_level = "CAN_USE"
    }
  }
}

resource "databricks_directory" "lab" {
  path = local.workspace_folder
  # `labctl down` removes the lab folder with whatever the lab put in it.
  delete_recursive = true
}

resource "databricks_mlflow_experiment" "lab" {
  name        = "${databricks_directory.lab.path}/experiment"
  description = "labctl experiment for ${var.engineer}/${var.lab} (tags: ${join(", ", [for k, v in local.cluster_tags : "${k}=${v}"])})"
}
