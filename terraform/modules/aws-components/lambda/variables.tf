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

# ---- from other components --------------------------------------------------------------------

variable "stream_arn" {
  type        = string
  description = "Kinesis stream feeding the function (a kinesis-data-streams step); null: none."
  default     = null
}

variable "read_stream" {
  type        = bool
  description = "Read stream_arn. A separate, literal flag: stream_arn is unknown until the stream exists, and whether to create the reader must be known at plan."
  default     = false
}

variable "endpoint_name_prefix" {
  type        = string
  description = "Prefix of the lab's SageMaker endpoint name (the deploy step's, `<step>-`); the function may invoke only endpoints named so. null: no endpoint."
  default     = null
}

variable "endpoint_name" {
  type        = string
  description = "Exact endpoint name; null: <endpoint_name_prefix><the labctl-run tag>, as labctl's AWS backend names it."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "runtime" {
  type        = string
  description = "Lambda Python runtime."
  default     = "python3.12"
}

variable "memory_mb" {
  type        = number
  description = "Memory (MB); CPU scales with it."
  default     = 256
}

variable "timeout_seconds" {
  type        = number
  description = "Function timeout in seconds."
  default     = 30
}

variable "batch_size" {
  type        = number
  description = "Records per invocation from the stream."
  default     = 100
}

variable "starting_position" {
  type        = string
  description = "LATEST or TRIM_HORIZON."
  default     = "LATEST"
}
