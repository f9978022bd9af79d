# ---- common labctl inputs -------------------------------------------------------------------

variable "engineer" {
  type        = string
  description = "Engineer who owns the lab (labctl slug). Names the workspace folder and the labctl-engineer cluster tag fallback."

  validation {
    condition     = can(regex("^[a-z0-9_][a-z0-9_-]*$", var.engineer))
    error_message = "The engineer must be a lowercase slug ([a-z0-9_-]); it becomes a workspace path segment."
  }
}

variable "lab" {
  type        = string
  description = "Lab identifier from the labctl catalog. Names the workspace folder."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.lab))
    error_message = "The lab must be a lowercase slug ([a-z0-9_-]); it becomes a workspace path segment."
  }
}

variable "run_id" {
  type        = string
  description = "labctl run identifier (the labctl-run cluster tag fallback)."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (labctl-engineer, labctl-lab, labctl-run). The Databricks provider has no default tags: the cluster policy forces them as custom_tags on every cluster created with it (they propagate to the cloud VMs and to billing usage)."
}

variable "name_prefix" {
  type        = string
  description = "Lowercase slug naming this (engineer, lab, target), e.g. labctl-alice-churn-pipeline. Used as the cluster policy name (<= 100 chars)."
}

# ---- compute guardrails ---------------------------------------------------------------------

variable "cloud" {
  type        = string
  description = "The cloud the workspace runs on (aws, azure or gcp): names the policy's spot rules (aws_attributes / azure_attributes / gcp_attributes) and must match the node types."
  default     = "aws"

  validation {
    condition     = contains(["aws", "azure", "gcp"], var.cloud)
    error_message = "The cloud must be aws, azure or gcp."
  }
}

variable "node_type_ids" {
  type        = list(string)
  description = "Allowed node types for workers and driver (the first is the default); node types of var.cloud."
  default     = ["i3.xlarge", "m5d.large"]

  validation {
    condition     = length(var.node_type_ids) > 0
    error_message = "At least one node type must be allowed."
  }
}

variable "max_workers" {
  type        = number
  description = "Upper bound for num_workers and autoscale.max_workers."
  default     = 4

  validation {
    condition     = var.max_workers >= 0 && floor(var.max_workers) == var.max_workers
    error_message = "The max_workers must be a whole number >= 0."
  }
}

variable "autotermination_minutes" {
  type        = number
  description = "Idle minutes after which all-purpose clusters terminate; fixed by the all-purpose policy (job clusters reject the setting and end with their run)."
  default     = 30

  validation {
    condition     = var.autotermination_minutes >= 10 && var.autotermination_minutes <= 10000
    error_message = "Databricks accepts autotermination_minutes between 10 and 10000."
  }
}

variable "spark_version" {
  type        = string
  description = "Databricks Runtime key fixed by the policy (an LTS ML runtime)."
  default     = "15.4.x-cpu-ml-scala2.12"
}

variable "max_dbus_per_hour" {
  type        = number
  description = "Optional cap on a cluster's DBUs per hour (the policy's dbus_per_hour virtual attribute). null: no cap beyond node types and worker count."
  default     = null
}

variable "max_clusters_per_user" {
  type        = number
  description = "Maximum number of clusters one user may have with this policy."
  default     = 1
}

variable "policy_user_names" {
  type        = list(string)
  description = "Workspace user names (emails) granted CAN_USE on the cluster policy. Admins can always use it."
  default     = []
}

variable "policy_group_names" {
  type        = list(string)
  description = "Workspace groups granted CAN_USE on the cluster policy."
  default     = []
}

# ---- expiry (expiry.tf) ---------------------------------------------------------------------

variable "autostop_at" {
  type        = string
  description = "The endpoints' deadline, RFC 3339 UTC (e.g. 2026-12-01T19:00:00Z): a job deletes them then. null: no deadline, no job."
  default     = null
}

variable "endpoint_names" {
  type        = list(string)
  description = "Names of the Model Serving endpoints the lab's deploy steps will create (labctl passes them: backends/modules.py); the expiry job deletes these."
  default     = []
}

# ---- Unity Catalog, Delta Live Tables (labctl passes them from the lab's steps) -------------

variable "uc_catalog" {
  type        = string
  description = "Unity Catalog catalog the lab's schema (tables, feature tables, models) and volume (data) go in; null when the workspace has no metastore (Hive metastore tables, DBFS data, workspace model registry). labctl probes the metastore assignment."
  default     = null
}

variable "dlt_pipelines" {
  type = map(object({
    edition       = string
    continuous    = bool
    target_schema = string
    bronze        = string
    expectations  = bool
  }))
  description = "Delta Live Tables pipelines by lab step: edition (CORE, PRO, ADVANCED), continuous or triggered, the lab's target_schema setting, the bronze Parquet path under the lab's data root, whether expectations drop rows. Serverless under Unity Catalog, classic under the lab's DLT cluster policy otherwise."
  default     = {}
}

variable "dlt_source_file" {
  type        = string
  description = "Local path of the pipeline source labctl ships (labctl/pipelines/dlt_features.py); uploaded as a workspace file when the lab has a pipeline."
  default     = null
}

variable "dlt_workers" {
  type        = number
  description = "Workers of a classic DLT pipeline's cluster (serverless pipelines size themselves)."
  default     = 1
}
