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
  description = "The lab's SageMaker role (module.lab.role_arn), the only principal of the domain's access policy."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for encryption at rest; null: AWS-managed."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "engine_version" {
  type        = string
  description = "e.g. OpenSearch_2.13 (k-NN is built in)."
  default     = "OpenSearch_2.13"
}

variable "instance_type" {
  type        = string
  description = "Data node type, e.g. t3.small.search (billed per hour)."
  default     = "t3.small.search"
}

variable "instance_count" {
  type        = number
  description = "Data nodes."
  default     = 1
}

variable "volume_gb" {
  type        = number
  description = "gp3 volume per node (GB; t3.small.search allows up to 100)."
  default     = 10
}
