# ---- common labctl component inputs (the root module passes the same as to module.lab) ----------

variable "name_prefix" {
  type        = string
  description = "labctl slug of (engineer, lab, target), e.g. labctl-alice-churn-pipeline."
}

variable "step" {
  type        = string
  description = "Name of the lab's service step this component is made for."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (labctl-engineer, labctl-lab, labctl-run), on top of the provider's default_tags."
  default     = {}
}

# ---- step settings --------------------------------------------------------------------------

variable "stream_mode" {
  type        = string
  description = "PROVISIONED (billed per shard-hour) or ON_DEMAND (per stream-hour and GB)."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "The stream_mode is PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  type        = number
  description = "Shards of a PROVISIONED stream (ignored ON_DEMAND)."
  default     = 1
}

variable "retention_hours" {
  type        = number
  description = "Hours records are kept (24 is included in the price; up to 8760)."
  default     = 24

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "The retention_hours is between 24 and 8760."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for server-side encryption; null: the AWS-managed alias/aws/kinesis."
  default     = null
}
