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

variable "alarms" {
  type        = list(string)
  description = "Which events to watch: unauthorized-api-calls, kms-key-disable-or-delete, iam-policy-changes, endpoint-config-changes."
  default     = ["unauthorized-api-calls", "kms-key-disable-or-delete", "iam-policy-changes", "endpoint-config-changes"]

  validation {
    condition = alltrue([for a in var.alarms : contains(
      ["unauthorized-api-calls", "kms-key-disable-or-delete", "iam-policy-changes", "endpoint-config-changes"], a
    )])
    error_message = "Known alarms: unauthorized-api-calls, kms-key-disable-or-delete, iam-policy-changes, endpoint-config-changes."
  }
}

variable "notify" {
  type        = string
  description = "sns (a topic of this component) or none."
  default     = "sns"

  validation {
    condition     = contains(["sns", "none"], var.notify)
    error_message = "The notify is sns or none."
  }
}

variable "emails" {
  type        = list(string)
  description = "Addresses subscribed to the topic (each confirms by email)."
  default     = []
}
