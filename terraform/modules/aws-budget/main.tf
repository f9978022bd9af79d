# One cost budget per engineer per AWS account, with the team's alert thresholds and, at 100%,
# a budget action attaching a deny-new-spend policy to the engineer's lab roles. See README.md.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Budgets: <= 100 characters, no ":" or "\". 7 + 12 + 1 + <= 63 (a label value) = <= 83.
  budget_name = "labctl-${local.account_id}-${var.engineer}"
  # IAM: policy <= 128, role <= 64 characters; name_prefix <= 40.
  policy_name = "${var.name_prefix}-deny-new-spend"
  role_name   = "${var.name_prefix}-budget-action"

  notifications = length(var.subscribers) == 0 ? [] : concat(
    [for t in var.alert_thresholds : { threshold = t, type = "ACTUAL" }],
    [{ threshold = var.alert_thresholds[length(var.alert_thresholds) - 1], type = "FORECASTED" }],
  )
  # AWS requires at least one subscriber for an action, and a role to attach the policy to.
  create_action = length(var.subscribers) > 0 && length(var.lab_role_names) > 0
  lab_role_arns = [for r in var.lab_role_names : "arn:${local.partition}:iam::${local.account_id}:role/${r}"]
}

resource "aws_budgets_budget" "engineer" {
  name         = local.budget_name
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  # User-defined cost allocation tags are addressed as "user:<key>$<value>". The tag must be
  # activated as a cost allocation tag in the Billing console (payer account) to be counted.
  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:labctl-engineer$%s", var.engineer)]
  }

  dynamic "notification" {
    for_each = local.notifications
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_email_addresses = var.subscribers
    }
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# At 100%: no new SageMaker spend by the engineer's lab roles
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "deny_new_spend" {
  statement {
    sid       = "DenyNewSageMakerSpend"
    effect    = "Deny"
    actions   = ["sagemaker:Create*", "sagemaker:Start*"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "deny_new_spend" {
  name        = local.policy_name
  description = "labctl: attached by the ${local.budget_name} budget action at ${var.action_threshold}%"
  policy      = data.aws_iam_policy_document.deny_new_spend.json

  tags = var.tags
}

# The role AWS Budgets assumes to run the action: trusted by budgets in this account only, and
# allowed to attach/detach that one policy to/from the engineer's lab roles, nothing else.
data "aws_iam_policy_document" "budgets_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "budget_action" {
  count = local.create_action ? 1 : 0

  statement {
    sid       = "AttachTheDenyPolicyToTheLabRoles"
    effect    = "Allow"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = local.lab_role_arns
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [aws_iam_policy.deny_new_spend.arn]
    }
  }
}

resource "aws_iam_role" "budget_action" {
  count = local.create_action ? 1 : 0

  name                 = local.role_name
  description          = "labctl: AWS Budgets attaches ${local.policy_name} to ${var.engineer}'s lab roles"
  assume_role_policy   = data.aws_iam_policy_document.budgets_trust.json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "budget_action" {
  count = local.create_action ? 1 : 0

  name   = "labctl-budget-action"
  role   = aws_iam_role.budget_action[0].id
  policy = data.aws_iam_policy_document.budget_action[0].json
}

resource "aws_budgets_budget_action" "deny_new_spend" {
  count = local.create_action ? 1 : 0

  budget_name        = aws_budgets_budget.engineer.name
  action_type        = "APPLY_IAM_POLICY"
  approval_model     = "AUTOMATIC"
  notification_type  = "ACTUAL"
  execution_role_arn = aws_iam_role.budget_action[0].arn

  action_threshold {
    action_threshold_type  = "PERCENTAGE"
    action_threshold_value = var.action_threshold
  }

  definition {
    iam_action_definition {
      policy_arn = aws_iam_policy.deny_new_spend.arn
      roles      = var.lab_role_names
    }
  }

  dynamic "subscriber" {
    for_each = toset(var.subscribers)
    content {
      address           = subscriber.value
      subscription_type = "EMAIL"
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.budget_action]
}
