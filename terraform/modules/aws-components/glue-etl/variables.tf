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

variable "bucket" {
  type        = string
  description = "Name of the lab bucket (module.lab.bucket)."
}

variable "bucket_arn" {
  type        = string
  description = "ARN of the lab bucket (module.lab.bucket_arn)."
}

variable "raw_prefix" {
  type        = string
  description = "Prefix the job reads (the Firehose step's s3_prefix)."
  default     = "raw/"
}

variable "output_prefix" {
  type        = string
  description = "Prefix the job writes the train/ and validation/ channels under (the lab's data step: data/<step>/)."
  default     = "curated/"
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the lab bucket, when it has one (grants Decrypt/GenerateDataKey)."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "glue_version" {
  type        = string
  description = "Glue version (4.0: Spark 3.3, Python 3.10)."
  default     = "4.0"
}

variable "worker_type" {
  type        = string
  description = "G.1X (1 DPU per worker) or G.2X (2 DPU)."
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.worker_type)
    error_message = "The worker_type is G.1X, G.2X, G.4X or G.8X."
  }
}

variable "number_of_workers" {
  type        = number
  description = "Workers (2 is the minimum; one is the driver). Billed per DPU-hour, per second with a 1-minute minimum."
  default     = 2

  validation {
    condition     = var.number_of_workers >= 2
    error_message = "The number_of_workers is at least 2."
  }
}

variable "job_bookmarks" {
  type        = bool
  description = "Process only the raw objects new since the last run."
  default     = true
}

variable "output_format" {
  type        = string
  description = "Format of the channels: csv (SageMaker built-ins: no header, label first) or parquet."
  default     = "csv"

  validation {
    condition     = contains(["csv", "parquet"], var.output_format)
    error_message = "The output_format is csv or parquet."
  }
}

variable "label" {
  type        = string
  description = "Label column of the raw records (the lab's data generator's, e.g. Churn); yes/no and true/false become 1/0."
  default     = "label"
}

variable "validation_fraction" {
  type        = number
  description = "Fraction of the rows written to the validation channel."
  default     = 0.2
}

variable "timeout_minutes" {
  type        = number
  description = "The job is stopped after this many minutes (bounds its cost)."
  default     = 30
}
