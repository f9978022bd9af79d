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

# ---- Unity Catalog: one schema and one volume per engineer and lab ----------------------------

locals {
  uc = var.uc_catalog != null
  # the lab's schema: Unity Catalog schema (tables, feature tables, models), or the prefix of the
  # Hive metastore schemas its pipelines publish to
  schema_name = replace(var.name_prefix, "-", "_")
  data_root   = local.uc ? "/Volumes/${var.uc_catalog}/${local.schema_name}/data" : "dbfs:/labctl/${var.engineer}/${var.lab}"
  dlt_classic = !local.uc && length(var.dlt_pipelines) > 0
}

resource "databricks_schema" "lab" {
  count        = local.uc ? 1 : 0
  catalog_name = var.uc_catalog
  name         = local.schema_name
  comment      = "labctl lab ${var.engineer}/${var.lab}: its tables, feature tables, models and data volume"
  properties   = local.cluster_tags
  # `labctl down` drops the lab's tables with it (pipelines and jobs are gone first)
  force_destroy = true
}

resource "databricks_volume" "data" {
  count        = local.uc ? 1 : 0
  name         = "data"
  catalog_name = var.uc_catalog
  schema_name  = databricks_schema.lab[0].name
  volume_type  = "MANAGED"
  comment      = "labctl data of ${var.engineer}/${var.lab} (generated datasets, job outputs)"
}

# ---- Delta Live Tables --------------------------------------------------------------------------

resource "databricks_workspace_file" "dlt" {
  count  = length(var.dlt_pipelines) > 0 ? 1 : 0
  source = var.dlt_source_file
  path   = "${databricks_directory.lab.path}/pipelines/dlt_features.py"
}

# Classic DLT clusters only (serverless pipelines have no cluster): the lab's guardrails with
# cluster_type dlt; DLT picks its own runtime, so no spark_version rule.
resource "databricks_cluster_policy" "dlt" {
  count = local.dlt_classic ? 1 : 0
  name  = substr("${var.name_prefix}-dlt", 0, 100)
  description = join(" ", [
    "labctl guardrails for ${var.engineer}/${var.lab} Delta Live Tables clusters:",
    "<= ${var.max_workers} workers, nodes ${join("/", var.node_type_ids)} (${var.cloud}).",
  ])
  definition = jsonencode(merge(
    { for k, v in local.policy_definition : k => v if k != "spark_version" },
    { "cluster_type" = { type = "fixed", value = "dlt" } },
  ))
  max_clusters_per_user = var.max_clusters_per_user
}

resource "databricks_pipeline" "dlt" {
  for_each = var.dlt_pipelines

  name       = "${var.name_prefix}-${each.key}"
  edition    = each.value.edition
  continuous = each.value.continuous
  channel    = "CURRENT"
  # production mode: the cluster stops when an update ends (development mode keeps it 2 hours)
  development = false
  tags        = local.cluster_tags

  # Unity Catalog: serverless, publishing into the lab's schema; otherwise the Hive metastore
  # schema <lab schema>_<target_schema>, stored under the lab's DBFS folder
  serverless = local.uc ? true : null
  catalog    = local.uc ? var.uc_catalog : null
  schema     = local.uc ? databricks_schema.lab[0].name : null
  target     = local.uc ? null : "${local.schema_name}_${each.value.target_schema}"
  storage    = local.uc ? null : "${local.data_root}/dlt/${each.key}"

  configuration = {
    "labctl.bronze_path"  = "${local.data_root}/${each.value.bronze}"
    "labctl.expectations" = tostring(each.value.expectations)
  }

  library {
    file {
      path = databricks_workspace_file.dlt[0].path
    }
  }

  dynamic "cluster" {
    for_each = local.dlt_classic ? ["default"] : []
    content {
      label                       = cluster.value
      policy_id                   = databricks_cluster_policy.dlt[0].id
      apply_policy_default_values = true
      num_workers                 = min(var.dlt_workers, var.max_workers)
      custom_tags                 = local.cluster_tags
    }
  }

  # the bronze input lives in the volume under Unity Catalog
  depends_on = [databricks_volume.data]
}
