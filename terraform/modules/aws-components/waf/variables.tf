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

# ---- step settings --------------------------------------------------------------------------

variable "managed_rules" {
  type        = list(string)
  description = "AWS managed rule groups, e.g. AWSManagedRulesCommonRuleSet."
  default     = ["AWSManagedRulesCommonRuleSet"]
}

variable "rate_limit_per_5min" {
  type        = number
  description = "Requests per 5 minutes from one IP above which it is blocked."
  default     = 2000
}

variable "resource_arn" {
  type        = string
  description = "A REST API stage, ALB or AppSync API to protect (a literal ARN); null: the ACL is not associated."
  default     = null
}
