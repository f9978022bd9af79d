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

# ---- from the lab module ----------------------------------------------------------------------

variable "bucket_arn" {
  type        = string
  description = "The lab bucket (module.lab.bucket_arn), whose object-level events are logged with s3_data_events."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "s3_data_events" {
  type        = bool
  description = "Log the lab bucket's object-level (data) events ($0.10 per 100,000 events)."
  default     = true
}

variable "log_file_validation" {
  type        = bool
  description = "Digest files to prove the logs were not changed."
  default     = true
}

variable "kms_encrypted" {
  type        = bool
  description = "Encrypt the logs with a key of this trail (SSE-KMS); false: SSE-S3."
  default     = true
}

variable "multi_region" {
  type        = bool
  description = "A multi-region trail (with global service events). The first copy of management events is free per account; a second trail's are billed."
  default     = false
}
