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

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn), granted use of these keys (encrypt volumes and outputs)."
}

# ---- step settings --------------------------------------------------------------------------

variable "keys" {
  type        = list(string)
  description = "One key per name, e.g. [data, model-artifacts, volumes, logs]."
  default     = ["data"]
}

variable "key_rotation" {
  type        = bool
  description = "Yearly automatic rotation."
  default     = true
}

variable "deny_insecure_transport" {
  type        = bool
  description = "Key policy denies requests not made over TLS."
  default     = true
}

variable "deletion_window_days" {
  type        = number
  description = "Days a deleted key waits before it is gone (7-30; billing stops at deletion)."
  default     = 7
}
