output "enabled" {
  description = "True when there is a deadline and at least one endpoint: the parent makes the job."
  value       = local.enabled
}

output "quartz_cron_expression" {
  description = "Quartz cron of the deadline (seconds minutes hours day month ?); null without a deadline."
  value       = local.quartz_cron_expression
}

output "timezone_id" {
  description = "Time zone of the schedule."
  value       = "UTC"
}

output "parameters" {
  description = "Arguments of expire_endpoints.py: the job's id, then each endpoint."
  value       = local.parameters
}

output "script" {
  description = "Path of the task's Python file (shipped with labctl), to upload as a workspace file."
  value       = "${path.module}/expire_endpoints.py"
}
