variable "engineer" {
  type        = string
  description = "The engineer's labctl-engineer tag value: the budget counts the cost tagged with it."
}

variable "name_prefix" {
  type        = string
  description = "Lowercase slug naming the deny policy and the budgets execution role (labctl.naming.name_prefix)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,39}$", var.name_prefix))
    error_message = "The name_prefix must be a lowercase slug of at most 40 characters."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of every object here (labctl-engineer)."
  default     = {}
}

variable "monthly_budget_usd" {
  type        = number
  description = "Monthly cost budget in USD over the cost tagged labctl-engineer=<engineer>."

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "The monthly_budget_usd must be > 0."
  }
}

variable "alert_thresholds" {
  type        = list(number)
  description = "Alert thresholds in percent of the budget: one ACTUAL notification each, and a FORECASTED one for the last."
  default     = [50, 75, 100]

  validation {
    condition     = length(var.alert_thresholds) > 0 && alltrue([for t in var.alert_thresholds : t > 0])
    error_message = "The alert_thresholds must be a non-empty list of positive percentages."
  }
}

variable "subscribers" {
  type        = list(string)
  description = "Email addresses notified (at most 10: AWS allows 10 email subscribers per notification and 11 per action). With [] the budget has no notifications and no action (AWS requires a subscriber for each)."
  default     = []

  validation {
    condition     = length(var.subscribers) <= 10
    error_message = "At most 10 subscribers."
  }
}

variable "lab_role_names" {
  type        = list(string)
  description = "The engineer's SageMaker lab roles the budget action denies new spend to at 100% (IAM role names). [] : no action."
  default     = []
}

variable "action_threshold" {
  type        = number
  description = "Percent of the budget (actual spend) at which the deny policy is attached."
  default     = 100
}
