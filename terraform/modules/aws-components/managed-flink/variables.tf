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

variable "bucket" {
  type        = string
  description = "The lab bucket (module.lab.bucket): the code and the aggregates."
}

variable "bucket_arn" {
  type        = string
  description = "ARN of the lab bucket (module.lab.bucket_arn)."
}

# ---- from the lab's stream step -------------------------------------------------------------

variable "stream_arn" {
  type        = string
  description = "The Kinesis stream the application reads (module.<stream step>.stream_arn)."
  default     = null
}

variable "read_stream" {
  type        = bool
  description = "true when stream_arn is given (a literal: it decides what the role may read)."
  default     = false
}

# ---- step settings --------------------------------------------------------------------------

variable "runtime" {
  type        = string
  description = "Flink runtime, e.g. FLINK-1_18."
  default     = "FLINK-1_18"
}

variable "windows_seconds" {
  type        = list(number)
  description = "Tumbling window lengths (seconds); one aggregate table each."
  default     = [60]
}

variable "parallelism" {
  type        = number
  description = "Parallelism (one KPU each, plus one for the application, while running)."
  default     = 1
}

variable "features_prefix" {
  type        = string
  description = "Prefix of the lab bucket the aggregates are written under."
  default     = "features/stream/"
}

variable "connector_jar" {
  type        = string
  description = "Path in the zip of the Kinesis SQL connector jar the learner adds."
  default     = "lib/flink-sql-connector-kinesis.jar"
}

variable "start_application" {
  type        = bool
  description = "Start the application on apply (only once the connector jar is in the zip)."
  default     = false
}
