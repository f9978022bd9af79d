output "budget_name" {
  description = "Name of the engineer's monthly budget (labctl-<account>-<engineer>)."
  value       = aws_budgets_budget.engineer.name
}

output "account_id" {
  description = "AWS account the budget lives in."
  value       = local.account_id
}

output "deny_policy_arn" {
  description = "ARN of the deny-new-spend policy the action attaches."
  value       = aws_iam_policy.deny_new_spend.arn
}

output "action_id" {
  description = "ID of the budget action, or null without subscribers or lab roles."
  value       = local.create_action ? aws_budgets_budget_action.deny_new_spend[0].action_id : null
}
