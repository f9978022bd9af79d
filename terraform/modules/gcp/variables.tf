# ---- common labctl inputs -------------------------------------------------------------------

variable "engineer" {
  type        = string
  description = "Engineer who owns the lab (labctl slug)."
}

variable "lab" {
  type        = string
  description = "Lab identifier from the labctl catalog."
}

variable "run_id" {
  type        = string
  description = "labctl run identifier (the labctl-run label)."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (labctl-engineer, labctl-lab, labctl-run). On Google Cloud they are applied as labels: merged under var.labels, which wins on conflicts."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Google labels for every labelable resource (keys labctl-engineer, labctl-lab, labctl-run), on top of the provider's default_labels. Keys: lowercase letter first, then [a-z0-9_-]; values [a-z0-9_-]; both <= 63 chars."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels :
      can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must match ^[a-z][a-z0-9_-]{0,62}$ and values ^[a-z0-9_-]{0,63}$."
  }
}

variable "name_prefix" {
  type        = string
  description = "Lowercase slug naming this (engineer, lab, target), e.g. labctl-alice-churn-pipeline. Truncated and suffixed with a short hash to fit bucket (63) and service-account id (30) limits."

  validation {
    condition     = can(regex("^[a-z][a-z0-9_-]*$", var.name_prefix))
    error_message = "The name_prefix must start with a lowercase letter and contain only [a-z0-9_-] (underscores become hyphens in resource names)."
  }
}

# ---- Google Cloud -----------------------------------------------------------------------------

variable "project" {
  type        = string
  description = "Google Cloud project ID the lab runs in."
}

variable "region" {
  type        = string
  description = "Region for the bucket, the BigQuery dataset and Vertex AI jobs."
  default     = "us-central1"
}

variable "scratch_expiry_days" {
  type        = number
  description = "Days after which objects under the scratch prefixes tmp/, scratch/ and checkpoints/ are deleted."
  default     = 7
}

variable "noncurrent_version_expiry_days" {
  type        = number
  description = "Days after which noncurrent (overwritten or deleted) object versions are deleted."
  default     = 30
}

variable "bigquery_dataset" {
  type        = bool
  description = "Create a BigQuery dataset for the lab (dataEditor for the lab's service account on it) and grant the service account roles/bigquery.jobUser on the project."
  default     = false
}

variable "dataflow" {
  type        = bool
  description = "The lab has a Dataflow step: enable the Dataflow and Pub/Sub APIs, create the Pub/Sub topic and subscription it reads, and grant the service account roles/dataflow.worker and roles/pubsub.subscriber."
  default     = false
}

variable "pipelines" {
  type        = bool
  description = "The lab has a Vertex AI Pipelines step: let the service account act as itself (roles/iam.serviceAccountUser on itself), so pipeline tasks can start Vertex AI jobs as it."
  default     = false
}

variable "job_submitters" {
  type        = list(string)
  description = "IAM members (e.g. user:alice@example.com) allowed to run jobs as the lab's service account (roles/iam.serviceAccountUser on that service account only). [] grants nobody; project owners/editors can already do it."
  default     = []
}

# ---- expiry (expiry.tf) ---------------------------------------------------------------------

variable "autostop_at" {
  type        = string
  description = "The endpoints' deadline, RFC 3339 UTC (e.g. 2026-12-01T19:00:00Z): a Cloud Scheduler job runs the expiry workflow then. null: no deadline, no schedule."
  default     = null
}
