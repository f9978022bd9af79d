# ---------------------------------------------------------------------------------------------
# Cloud-side expiry: at var.autostop_at, EventBridge Scheduler calls SageMaker DeleteEndpoint
# for each of the lab's endpoints, with nothing of labctl awake. One one-time schedule per
# endpoint, in a schedule group of the lab (schedules take no tags; the group carries them).
# The endpoints are made by labctl after apply: a schedule may exist before its endpoint does.
# Without a deadline (or without endpoints) none of this is created; `labctl down` destroys it
# with the rest of the stack (a schedule that already fired deleted itself).
# ---------------------------------------------------------------------------------------------

module "expiry" {
  source = "./expiry"

  autostop_at    = var.autostop_at
  endpoint_names = var.endpoint_names
  partition      = local.partition
  region         = local.region
  account_id     = local.account_id
}

locals {
  # Schedule group and IAM role: <= 64 chars. 45 + "-expiry-" + 8 = 61.
  expiry_name = "${trim(substr(local.slug, 0, 45), "-")}-expiry-${local.suffix}"
}

resource "aws_scheduler_schedule_group" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  name = local.expiry_name
  tags = merge(var.tags, { Name = local.expiry_name })
}

resource "aws_iam_role" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  name                 = local.expiry_name
  description          = "labctl: EventBridge Scheduler deletes the endpoints of ${var.engineer}/${var.lab} at their deadline"
  assume_role_policy   = module.expiry.trust_policy
  max_session_duration = 3600

  tags = merge(var.tags, { Name = local.expiry_name })
}

# Least privilege: sagemaker:DeleteEndpoint on this lab's endpoints, nothing else.
resource "aws_iam_role_policy" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  name   = "labctl-delete-lab-endpoints"
  role   = aws_iam_role.expiry[0].id
  policy = module.expiry.role_policy
}

resource "aws_scheduler_schedule" "expiry" {
  for_each = module.expiry.schedules

  name        = each.key
  group_name  = aws_scheduler_schedule_group.expiry[0].name
  description = "labctl autostop: delete SageMaker endpoint ${each.key} at ${var.autostop_at}"

  schedule_expression          = module.expiry.schedule_expression
  schedule_expression_timezone = "UTC"
  # One-time: the schedule deletes itself once it has run.
  action_after_completion = "DELETE"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = module.expiry.target_arn
    role_arn = aws_iam_role.expiry[0].arn
    input    = each.value.input

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 10
    }
  }

  # The role must hold its permission before the schedule can ever run.
  depends_on = [aws_iam_role_policy.expiry]
}
