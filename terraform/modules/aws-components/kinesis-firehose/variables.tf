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

# ---- from the lab module and other components -------------------------------------------------

variable "bucket_arn" {
  type        = string
  description = "ARN of the lab bucket (module.lab.bucket_arn)."
}

variable "stream_arn" {
  type        = string
  description = "Kinesis stream to read from (a kinesis-data-streams step); null: direct PUT."
  default     = null
}

variable "read_stream" {
  type        = bool
  description = "Read stream_arn. A separate, literal flag: stream_arn is unknown until the stream exists, and whether to create the reader must be known at plan."
  default     = false
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key the delivered objects are encrypted with; null: the bucket's default."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "destination" {
  type        = string
  description = "Only s3 (the lab bucket)."
  default     = "s3"

  validation {
    condition     = var.destination == "s3"
    error_message = "This component delivers to S3 (the lab bucket) only."
  }
}

variable "s3_prefix" {
  type        = string
  description = "Prefix in the lab bucket records are delivered under (the raw zone), e.g. raw/customer-events/."
  default     = "raw/"
}

variable "buffer_seconds" {
  type        = number
  description = "Seconds Firehose buffers before writing an object (0-900)."
  default     = 300
}

variable "buffer_mb" {
  type        = number
  description = "MiB Firehose buffers before writing an object (1-128)."
  default     = 64
}

variable "compression" {
  type        = string
  description = "GZIP, ZIP, Snappy, HADOOP_SNAPPY or NONE."
  default     = "GZIP"
}
