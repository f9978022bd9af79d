variable "autostop_at" {
  type        = string
  description = "The endpoints' deadline, RFC 3339 UTC (e.g. 2026-12-01T19:00:00Z). null: no deadline, nothing to schedule."
  default     = null

  validation {
    # UTC only: the schedule reads the time in UTC (formatdate keeps a timestamp's own offset).
    condition     = var.autostop_at == null ? true : can(formatdate("YYYY", var.autostop_at)) && can(regex("(Z|[+-]00:00)$", var.autostop_at))
    error_message = "The autostop_at must be an RFC 3339 timestamp in UTC such as 2026-12-01T19:00:00Z."
  }
}

variable "endpoint_names" {
  type        = list(string)
  description = "Names of the Model Serving endpoints the lab's deploy steps create (labctl knows them before they exist)."
  default     = []
}
