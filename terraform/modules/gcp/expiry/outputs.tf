output "enabled" {
  description = "True when there is a deadline: the parent makes the workflow and its scheduler job."
  value       = local.enabled
}

output "schedule" {
  description = "Unix cron of the deadline's minute (UTC); null without a deadline."
  value       = local.schedule
}

output "time_zone" {
  description = "Time zone of the schedule."
  value       = "Etc/UTC"
}

output "scheduler_job" {
  description = "Full resource name of the scheduler job (the workflow deletes it at its end)."
  value       = local.scheduler_job
}

output "argument" {
  description = "The workflow's argument, as the JSON string the executions API takes."
  value       = local.argument
}

output "workflow_source" {
  description = "The workflow (YAML): undeploy every model of the run's endpoints, delete them, delete the scheduler job."
  value       = file("${path.module}/workflow.yaml")
}
