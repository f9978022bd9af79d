# What the lab's expiry schedules carry, computed from inputs alone (no provider): the parent
# module makes the resources; labctl's tests evaluate this module with Terraform itself.

locals {
  enabled = var.autostop_at != null && length(var.endpoint_names) > 0

  # SageMaker ARNs carry the endpoint name in lower case (IAM compares ARNs case-sensitively).
  endpoint_arns = {
    for name in var.endpoint_names :
    name => "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}:endpoint/${lower(name)}"
  }

  # One-time schedule: at(yyyy-mm-ddThh:mm:ss), read in the schedule's time zone (UTC).
  schedule_expression = var.autostop_at == null ? null : "at(${formatdate("YYYY-MM-DD'T'hh:mm:ss", var.autostop_at)})"

  # Keyed by endpoint name, which is also the schedule's name (SageMaker names, <= 63 chars of
  # [a-zA-Z0-9-], are valid schedule names). Empty without a deadline.
  schedules = {
    for name in var.endpoint_names : name => {
      endpoint_arn = local.endpoint_arns[name]
      input        = jsonencode({ EndpointName = name })
    } if local.enabled
  }

  trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SchedulerAssume"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      # Confused-deputy guard: only schedules of this account may use the role.
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })

  role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "DeleteLabEndpoints"
      Effect   = "Allow"
      Action   = "sagemaker:DeleteEndpoint"
      Resource = [for name in var.endpoint_names : local.endpoint_arns[name]]
    }]
  })
}
