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
  description = "ARN of the lab bucket (module.lab.bucket_arn): each role's prefix is in it."
}

# ---- step settings --------------------------------------------------------------------------

variable "roles" {
  type        = list(string)
  description = "One role per name (a pipeline component or a job function)."
  default     = []
}

variable "permissions_boundary" {
  type        = bool
  description = "Put every role under a boundary of the lab bucket and SageMaker in this region."
  default     = true
}

variable "abac_tag" {
  type        = string
  description = "Tag key of attribute-based access (e.g. tenant): SageMaker resources whose tag equals the principal's."
  default     = null
}
