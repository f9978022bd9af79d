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

# ---- from the lab ---------------------------------------------------------------------------

variable "endpoint_name_prefix" {
  type        = string
  description = "`<deploy step>-` of the lab's endpoint (the run is added from the labctl-run tag); null: no endpoint alarm."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "alarms" {
  type        = list(string)
  description = "Threshold alarms on the endpoint: ModelLatency, Invocation5XXErrors (others, e.g. IteratorAgeMilliseconds of a stream consumer, are not the endpoint's)."
  default     = ["ModelLatency", "Invocation5XXErrors"]
}

variable "anomaly_detection" {
  type        = list(string)
  description = "Endpoint metrics (AWS/SageMaker) with an anomaly-detection alarm, e.g. Invocations, ModelLatency."
  default     = []
}

variable "sampling_rate" {
  type        = number
  description = "Fraction of the lab's requests traced beyond the first each second."
  default     = 0.05
}
