output "enabled" {
  description = "True when there is a deadline and at least one endpoint: the parent makes the schedules."
  value       = local.enabled
}

output "schedule_expression" {
  description = "The one-time schedule expression, at(yyyy-mm-ddThh:mm:ss) in UTC; null without a deadline."
  value       = local.schedule_expression
}

output "target_arn" {
  description = "EventBridge Scheduler's universal target for SageMaker DeleteEndpoint."
  value       = "arn:${var.partition}:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
}

output "schedules" {
  description = "Endpoint name => { endpoint_arn, input (the DeleteEndpoint request as JSON) }; empty without a deadline."
  value       = local.schedules
}

output "trust_policy" {
  description = "Trust policy of the schedules' role: EventBridge Scheduler, this account only."
  value       = local.trust_policy
}

output "role_policy" {
  description = "The role's only permission: sagemaker:DeleteEndpoint on the lab's endpoints."
  value       = local.role_policy
}
