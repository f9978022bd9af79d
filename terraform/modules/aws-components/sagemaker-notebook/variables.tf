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

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn)."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the ML storage volume; null: AWS-managed."
  default     = null
}

variable "subnet_id" {
  type        = string
  description = "A private subnet (vpc component): no direct internet access. null: SageMaker's network, with internet."
  default     = null
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups when subnet_id is set."
  default     = []
}

# ---- step settings --------------------------------------------------------------------------

variable "instance_type" {
  type        = string
  description = "Notebook instance type (billed per hour while InService: stop it when idle)."
  default     = "ml.t3.medium"
}

variable "volume_gb" {
  type        = number
  description = "ML storage volume (GB)."
  default     = 5
}

variable "platform_identifier" {
  type        = string
  description = "Notebook platform (Amazon Linux 2, JupyterLab 4)."
  default     = "notebook-al2-v3"
}
