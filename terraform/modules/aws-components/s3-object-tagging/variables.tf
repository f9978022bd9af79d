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
  description = "ARN of the lab bucket (module.lab.bucket_arn)."
}

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn), bound by the classification."
}

# ---- step settings --------------------------------------------------------------------------

variable "tag_key" {
  type        = string
  description = "Object tag holding the classification."
  default     = "classification"
}

variable "levels" {
  type        = list(string)
  description = "Classification levels, lowest first."
  default     = ["public", "internal", "confidential", "restricted"]

  validation {
    condition     = length(var.levels) > 0
    error_message = "At least one level."
  }
}

variable "default" {
  type        = string
  description = "Level of the lab's own data (what an untagged object is taken to be)."
  default     = "confidential"
}

variable "abac" {
  type        = bool
  description = "Deny the lab role objects tagged with the highest level."
  default     = true
}
