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


# ---- the lab network (a vpc step), else the default VPC ----------------------------------------

variable "in_lab_vpc" {
  type        = bool
  description = "true when the lab has a vpc step (a literal: count is known at plan); false: the default VPC."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "The lab VPC (module.<vpc step>.vpc_id) when in_lab_vpc."
  default     = null
}

variable "subnet_ids" {
  type        = list(string)
  description = "The lab VPC's private subnets when in_lab_vpc."
  default     = []
}

variable "security_group_ids" {
  type        = list(string)
  description = "The lab VPC's security group (members reach each other), added to this component's own."
  default     = []
}

# ---- step settings --------------------------------------------------------------------------

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for encryption at rest; null: the AWS-managed key."
  default     = null
}

variable "engine" {
  type        = string
  description = "redis (Redis OSS) or valkey."
  default     = "redis"
}

variable "node_type" {
  type        = string
  description = "Cache node type, e.g. cache.t4g.micro (billed per hour)."
  default     = "cache.t4g.micro"
}
