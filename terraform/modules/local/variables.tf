variable "engineer" {
  type        = string
  description = "Engineer who owns the lab (labctl slug). Recorded for symmetry with the cloud modules; nothing here is taggable."
}

variable "lab" {
  type        = string
  description = "Lab identifier from the labctl catalog."
}

variable "run_id" {
  type        = string
  description = "labctl run identifier. Part of the bucket's triggers: a new run_id re-runs the folder creation (existing data is kept, mkdir -p is idempotent)."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (labctl-engineer, labctl-lab, labctl-run). Accepted for interface parity with the cloud modules; local folders cannot carry tags."
  default     = {}
}

variable "name_prefix" {
  type        = string
  description = "Lowercase slug naming this (engineer, lab, target), e.g. labctl-alice-churn-pipeline. Unused locally; kept for interface parity."
  default     = ""
}

variable "bucket_root" {
  type        = string
  description = "Absolute path of the lab's local bucket folder. Created on apply, removed (rm -rf) on destroy."

  validation {
    condition     = can(regex("^/", var.bucket_root)) && length(replace(replace(var.bucket_root, "/", ""), ".", "")) > 0
    error_message = "The bucket_root must be an absolute path and must not be \"/\" (or only slashes and dots)."
  }
}

variable "autostop_at" {
  type        = string
  description = "The run's deadline, RFC 3339 UTC (e.g. 2026-12-01T19:00:00Z), or null for none: when the lab's endpoints stop (labctl team default_autostop / --autostop; `labctl extend` moves it)."
  default     = null
}
