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

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn), granted item access to this table only."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key; null: the AWS-managed key."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "billing_mode" {
  type        = string
  description = "PAY_PER_REQUEST or PROVISIONED."
  default     = "PAY_PER_REQUEST"
}

variable "partition_key" {
  type        = string
  description = "Partition (hash) key attribute, a string."
  default     = "id"
}

variable "sort_key" {
  type        = string
  description = "Optional sort (range) key attribute, a string."
  default     = null
}

variable "read_capacity" {
  type        = number
  description = "Read capacity units (PROVISIONED only)."
  default     = 1
}

variable "write_capacity" {
  type        = number
  description = "Write capacity units (PROVISIONED only)."
  default     = 1
}
