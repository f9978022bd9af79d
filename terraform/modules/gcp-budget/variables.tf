variable "engineer" {
  type        = string
  description = "The engineer's labctl-engineer label value: the budget counts the cost labelled with it."
}

variable "project" {
  type        = string
  description = "The project whose labelled cost the budget counts (and where the notification channels live)."
}

variable "billing_account" {
  type        = string
  description = "Billing account ID (XXXXXX-XXXXXX-XXXXXX) that pays for the project; budgets live on it."
}

variable "labels" {
  type        = map(string)
  description = "User labels of the notification channels (labctl-engineer)."
  default     = {}
}

variable "monthly_budget_usd" {
  type        = number
  description = "Monthly budget in USD. The billing account's currency must be USD."

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "The monthly_budget_usd must be > 0."
  }
}

variable "alert_thresholds" {
  type        = list(number)
  description = "Alert thresholds in percent of the budget: one CURRENT_SPEND rule each, and a FORECASTED_SPEND rule for the last."
  default     = [50, 75, 100]

  validation {
    condition     = length(var.alert_thresholds) > 0 && alltrue([for t in var.alert_thresholds : t > 0])
    error_message = "The alert_thresholds must be a non-empty list of positive percentages."
  }
}

variable "alert_emails" {
  type        = list(string)
  description = "Extra email recipients (Cloud Monitoring email channels in the project); billing account admins and users are always notified."
  default     = []
}
