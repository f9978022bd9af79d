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
  description = "The lab's SageMaker role (module.lab.role_arn), the only reader of the secret."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key; null: the AWS-managed key (aws/secretsmanager)."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "rotation_days" {
  type        = number
  description = "Days between rotations (with rotation_lambda_arn)."
  default     = 30
}

variable "rotation_lambda_arn" {
  type        = string
  description = "The source's rotation function; null: not rotated (a rotation function is specific to the source)."
  default     = null
}
