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


# ---- from other steps -------------------------------------------------------------------------

variable "endpoint_name_prefix" {
  type        = string
  description = "Prefix of the lab's endpoint name (the deploy step's, `<step>-`); null with endpoint_name null: no alarm."
  default     = null
}

variable "endpoint_name" {
  type        = string
  description = "Exact endpoint name; null: <endpoint_name_prefix><the labctl-run tag>."
  default     = null
}

variable "variant_name" {
  type        = string
  description = "Production variant the alarms watch (labctl's single-model endpoints: AllTraffic)."
  default     = "AllTraffic"
}

variable "emails" {
  type        = list(string)
  description = "Addresses subscribed to the topic (each confirms by email)."
  default     = []
}

# ---- step settings --------------------------------------------------------------------------

variable "metrics" {
  type        = list(string)
  description = "Metrics to alarm on: ModelLatency (p99 over latency_p99_ms) and Invocation5XXErrors. Others (Model Monitor violations) are alarmed by the monitor step."
  default     = ["ModelLatency", "Invocation5XXErrors"]
}

variable "latency_p99_ms" {
  type        = number
  description = "p99 model latency (ms) above which the alarm fires (3 of 5 minutes)."
  default     = 100
}

variable "max_5xx_per_minute" {
  type        = number
  description = "5XX errors per minute above which the alarm fires."
  default     = 0
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
