output "state_machine_arn" {
  description = "ARN of the workflow (states:StartExecution)."
  value       = aws_sfn_state_machine.this.arn
}

output "glue_job_name" {
  description = "Name of the Glue job the workflow runs."
  value       = module.glue.job_name
}
