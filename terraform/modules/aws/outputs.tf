output "bucket" {
  description = "Name of the lab's S3 bucket."
  value       = aws_s3_bucket.lab.id
}

output "bucket_arn" {
  description = "ARN of the lab's S3 bucket."
  value       = aws_s3_bucket.lab.arn
}

output "role_arn" {
  description = "ARN of the SageMaker execution role for the lab's jobs."
  value       = aws_iam_role.sagemaker.arn
}

output "region" {
  description = "AWS region the lab runs in (from the provider configuration)."
  value       = data.aws_region.current.region
}

output "account_id" {
  description = "AWS account ID the lab runs in."
  value       = data.aws_caller_identity.current.account_id
}

output "quality_schedule_group" {
  description = "EventBridge Scheduler group of the monitor steps' quality-check schedules (null without a monitor step)."
  value       = one(aws_scheduler_schedule_group.quality[*].name)
}

output "quality_role_arn" {
  description = "Role EventBridge Scheduler assumes to start the quality-check processing jobs (null without a monitor step)."
  value       = one(aws_iam_role.quality[*].arn)
}
