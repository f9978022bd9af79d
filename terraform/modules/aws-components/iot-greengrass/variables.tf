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

variable "bucket_arn" {
  type        = string
  description = "ARN of the lab bucket (module.lab.bucket_arn): the devices read the model artifacts."
}

# ---- step settings --------------------------------------------------------------------------

variable "core_devices" {
  type        = number
  description = "Simulated core devices (one EC2 instance and IoT thing each)."
  default     = 1
}

variable "core_device_instance" {
  type        = string
  description = "EC2 type of a simulated core device (billed per hour)."
  default     = "t3.small"
}

variable "component" {
  type        = string
  description = "Name of the inference component the learner deploys to the devices."
  default     = "labctl-inference"
}
