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
  description = "The lab's SageMaker role (module.lab.role_arn): the profiles' execution role."
}

variable "in_lab_vpc" {
  type        = bool
  description = "Run in the lab VPC (vpc_id, subnet_ids, security_group_ids); false: the account's default VPC. A literal: the VPC's ID is unknown until it exists."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "The lab VPC (a vpc step), with in_lab_vpc."
  default     = null
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the lab VPC (with vpc_id)."
  default     = []
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the lab VPC (with vpc_id)."
  default     = []
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the home EFS volume; null: AWS-managed."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "environments" {
  type        = list(string)
  description = "One user profile per environment, e.g. [dev, staging, prod]."
  default     = []
}

variable "tenants" {
  type        = list(string)
  description = "One user profile per tenant, e.g. [team-a, team-b] (tagged tenant = <name>)."
  default     = []
}

variable "auth_mode" {
  type        = string
  description = "IAM (labctl does not configure IAM Identity Center)."
  default     = "IAM"

  validation {
    condition     = var.auth_mode == "IAM"
    error_message = "Only IAM: SSO needs IAM Identity Center, an organisation-wide setting."
  }
}

variable "vpc_only" {
  type        = bool
  description = "VpcOnly network access when the lab has a VPC (else the default VPC with internet: see main.tf)."
  default     = true
}
