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
  description = "labctl run identifier (the labctl-run tag)."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (keys labctl-engineer, labctl-lab, labctl-run). Applied explicitly to every taggable resource, on top of the provider's default_tags."
}

variable "name_prefix" {
  type        = string
  description = "Lowercase slug naming this (engineer, lab, target), e.g. labctl-alice-churn-pipeline. Truncated and suffixed with a short hash to fit S3 (63) and IAM (64) name limits."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.name_prefix))
    error_message = "The name_prefix must be a lowercase slug: [a-z0-9] followed by [a-z0-9_-] (underscores become hyphens in resource names)."
  }
}

# ---- bucket ---------------------------------------------------------------------------------

variable "kms_key_arn" {
  type        = string
  description = "Optional customer-managed KMS key ARN for the bucket's default encryption (aws:kms). null means SSE-S3 (AES256). When set, the SageMaker role is also granted kms:Decrypt/GenerateDataKey on this key only."
  default     = null
}

variable "expire_prefixes" {
  type        = map(number)
  description = "Prefix -> days after which its objects expire (an s3-lifecycle step's retention rules)."
  default     = {}
}

variable "scratch_expiry_days" {
  type        = number
  description = "Days after which objects under tmp/ and checkpoints/ expire."
  default     = 7

  validation {
    condition     = var.scratch_expiry_days >= 1 && floor(var.scratch_expiry_days) == var.scratch_expiry_days
    error_message = "The scratch_expiry_days must be a whole number >= 1."
  }
}

variable "noncurrent_version_expiry_days" {
  type        = number
  description = "Days after which noncurrent (overwritten or deleted) object versions are removed."
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiry_days >= 1 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "The noncurrent_version_expiry_days must be a whole number >= 1."
  }
}

# ---- SageMaker execution role ---------------------------------------------------------------

variable "prebuilt_image_repositories" {
  type        = list(string)
  description = "Names of the AWS-owned SageMaker algorithm / Deep Learning Container ECR repositories the role may pull from in this region (e.g. sagemaker-xgboost, blazingtext, sagemaker-model-monitor-analyzer). Use [] to grant none."
  default     = ["sagemaker-xgboost", "sagemaker-scikit-learn"]

  validation {
    condition     = alltrue([for r in var.prebuilt_image_repositories : can(regex("^[a-z0-9][a-z0-9._/-]*$", r))])
    error_message = "Repository names are lowercase ECR names without wildcards."
  }
}

variable "prebuilt_image_account_ids" {
  type        = list(string)
  description = "Optional: the AWS-owned registry account IDs serving prebuilt_image_repositories in this region. [] (default) leaves the account open and pins the grant to the repository names in this region only."
  default     = []

  validation {
    condition     = alltrue([for a in var.prebuilt_image_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "Account IDs are 12 digits."
  }
}

variable "extra_ecr_repository_arns" {
  type        = list(string)
  description = "Additional ECR repository ARNs the role may pull from (e.g. a team's own training image). Repositories in this account named <name_prefix>* are always allowed."
  default     = []
}

variable "trust_source_account_condition" {
  type        = bool
  description = "Add an aws:SourceAccount condition (this account) to the role's trust policy, AWS's recommended cross-service confused-deputy protection for SageMaker. Disable only if a SageMaker feature you use fails to assume the role."
  default     = true
}

# ---- expiry (expiry.tf) ---------------------------------------------------------------------

variable "autostop_at" {
  type        = string
  description = "The endpoints' deadline, RFC 3339 UTC (e.g. 2026-12-01T19:00:00Z): EventBridge Scheduler deletes them then. null: no deadline, no schedule."
  default     = null
}

variable "endpoint_names" {
  type        = list(string)
  description = "Names of the SageMaker endpoints the lab's deploy steps will create (labctl passes them: backends/modules.py). The expiry schedules and their role name these."
  default     = []
}

# ---- quality checks (quality.tf) ------------------------------------------------------------

variable "quality_job_prefixes" {
  type        = list(string)
  description = "Name prefixes of the processing jobs the lab's monitor steps start on a schedule (data and model quality over the captured traffic; labctl passes them: backends/modules.py). Empty: no monitor step, no schedule group or role."
  default     = []
}
