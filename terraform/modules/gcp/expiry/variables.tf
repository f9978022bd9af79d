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

variable "project" {
  type        = string
  description = "Project of the lab's Vertex AI endpoints."
}

variable "region" {
  type        = string
  description = "Region of the endpoints (and of the workflow and the scheduler job)."
}

variable "labels" {
  type        = map(string)
  description = "The labctl labels of the run (labctl-engineer, labctl-lab, labctl-run): the workflow deletes the endpoints carrying all three."
}

variable "job_name" {
  type        = string
  description = "Name of the Cloud Scheduler job that starts the workflow (the workflow deletes it last)."
}
