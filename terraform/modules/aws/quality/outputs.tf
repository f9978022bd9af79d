output "enabled" {
  description = "Whether the lab has a monitor step (then the group and role exist)."
  value       = length(var.job_prefixes) > 0
}

output "job_arns" {
  description = "ARN patterns of the jobs the role may start."
  value       = local.job_arns
}

output "trust_policy" {
  description = "Trust policy: EventBridge Scheduler, for this account's schedules in the lab's group."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SchedulerAssume"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      # Confused-deputy guard: only this account's schedules in the lab's group.
      Condition = {
        StringEquals = { "aws:SourceAccount" = var.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${var.partition}:scheduler:${var.region}:${var.account_id}:schedule/${var.group_name}/*" }
      }
    }]
  })
}

output "role_policy" {
  description = "The role's only policy: start (and tag) the lab's quality-check jobs as the lab's role."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartQualityJobs"
        Effect   = "Allow"
        Action   = ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"]
        Resource = local.job_arns
      },
      {
        Sid       = "PassLabRole"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = var.lab_role_arn
        Condition = { StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" } }
      },
    ]
  })
}
