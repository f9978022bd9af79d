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
  description = "Prefix the Glue job reads."
  default     = "raw/"
}

variable "output_prefix" {
  type        = string
  description = "Prefix the Glue job writes the channels under."
  default     = "curated/"
}

# ---- step settings --------------------------------------------------------------------------

variable "label" {
  type        = string
  description = "Label column of the raw records (passed to the Glue job)."
  default     = "label"
}

variable "glue_job" {
  type        = string
  description = "Name of the workflow's Glue job (a suffix of its resource names)."
  default     = "etl"
}

variable "glue_version" {
  type        = string
  description = "Glue version of the job."
  default     = "4.0"
}

variable "worker_type" {
  type        = string
  description = "Worker type of the job (G.1X: 1 DPU)."
  default     = "G.1X"
}

variable "number_of_workers" {
  type        = number
  description = "Workers of the job."
  default     = 2
}
