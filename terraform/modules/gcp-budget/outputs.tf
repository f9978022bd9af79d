output "budget_name" {
  description = "Display name of the engineer's budget (labctl-<project>-<engineer>, at most 60 characters)."
  value       = google_billing_budget.engineer.display_name
}

output "budget_id" {
  description = "Resource name of the budget (billingAccounts/<account>/budgets/<id>)."
  value       = google_billing_budget.engineer.name
}

output "project" {
  description = "The project whose labelled cost the budget counts."
  value       = var.project
}
