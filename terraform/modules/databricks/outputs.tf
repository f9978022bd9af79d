output "cluster_policy_id" {
  description = "ID of the lab's job-cluster policy (pass as policy_id of runs/submit job clusters)."
  value       = databricks_cluster_policy.lab.id
}

output "all_purpose_policy_id" {
  description = "ID of the lab's all-purpose cluster policy (auto-termination fixed), for clusters started by hand."
  value       = databricks_cluster_policy.all_purpose.id
}

output "workspace_folder" {
  description = "Workspace folder of the lab (/Shared/labctl/<engineer>/<lab>)."
  value       = databricks_directory.lab.path
}

output "experiment_id" {
  description = "ID of the lab's MLflow experiment."
  value       = databricks_mlflow_experiment.lab.id
}

output "experiment_name" {
  description = "Full workspace path (name) of the lab's MLflow experiment."
  value       = databricks_mlflow_experiment.lab.name
}

output "spark_version" {
  description = "Databricks Runtime key fixed by the policy."
  value       = var.spark_version
}

output "node_type_id" {
  description = "Default (first allowed) node type."
  value       = var.node_type_ids[0]
}

output "data_root" {
  description = "Where the lab's data goes: its Unity Catalog volume (/Volumes/...), else dbfs:/labctl/<engineer>/<lab>."
  value       = local.data_root
}

output "uc_catalog" {
  description = "Unity Catalog catalog of the lab's schema; null without Unity Catalog."
  value       = var.uc_catalog
}

output "uc_schema" {
  description = "The lab's schema: <catalog>.<schema> under Unity Catalog, else the prefix of its Hive metastore schemas."
  value       = local.uc ? "${var.uc_catalog}.${databricks_schema.lab[0].name}" : local.schema_name
}

output "dlt_pipeline_ids" {
  description = "Delta Live Tables pipeline ID by lab step."
  value       = { for step, p in databricks_pipeline.dlt : step => p.id }
}
