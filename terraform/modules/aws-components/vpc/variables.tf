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
  description = "The lab's SageMaker role (module.lab.role_arn): it makes the jobs' and models' network interfaces."
}

# ---- step settings --------------------------------------------------------------------------

variable "cidr_block" {
  type        = string
  description = "CIDR of the VPC; subnets are /20s of a /16."
  default     = "10.42.0.0/16"
}

variable "private_subnets" {
  type        = number
  description = "Private subnets, one per availability zone (at least 2 for SageMaker endpoints)."
  default     = 2

  validation {
    condition     = var.private_subnets >= 1 && var.private_subnets <= 6
    error_message = "The private_subnets is between 1 and 6."
  }
}

variable "nat_gateway" {
  type        = bool
  description = "Only false: the lab VPC has no internet path (a NAT gateway is not made)."
  default     = false

  validation {
    condition     = !var.nat_gateway
    error_message = "This component makes private VPCs only (nat_gateway = false); reach AWS APIs through interface_endpoints."
  }
}

variable "interface_endpoints" {
  type        = list(string)
  description = "Interface endpoint services, as com.amazonaws.<region>.<name> names them: sagemaker.api, sagemaker.runtime, sts, logs, kms, kinesis-streams, ecr.api, ecr.dkr..."
  default     = ["sagemaker.api", "sagemaker.runtime", "sts", "logs"]
}

variable "s3_gateway_endpoint" {
  type        = bool
  description = "A (free) S3 gateway endpoint on the private route table."
  default     = true
}
