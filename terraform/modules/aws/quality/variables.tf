variable "job_prefixes" {
  type        = list(string)
  description = "Name prefixes of the quality-check processing jobs the monitor steps' schedules start (each job: <prefix>-<execution id>)."
  default     = []
}

variable "group_name" {
  type        = string
  description = "The lab's EventBridge Scheduler group for those schedules."
}

variable "lab_role_arn" {
  type        = string
  description = "The lab's SageMaker execution role, which the jobs run as."
}

variable "partition" {
  type        = string
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
}

variable "region" {
  type        = string
  description = "Region of the schedules and jobs."
}

variable "account_id" {
  type        = string
  description = "Account of the schedules and jobs."
}
