# The security lab's dashboard: EventBridge rules on the CloudTrail events that matter
# (unauthorized calls, KMS keys disabled or scheduled for deletion, IAM policy changes, endpoint
# changes), each notifying an SNS topic, and a CloudWatch dashboard of how often each fired.
# The events come from CloudTrail (a trail must exist: the lab's cloudtrail step). IAM events are
# delivered in us-east-1 only: in another region the iam-policy-changes rule never fires.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  api_call = "AWS API Call via CloudTrail"
  patterns = {
    "unauthorized-api-calls" = {
      "detail-type" = [local.api_call]
      detail        = { errorCode = ["AccessDenied", "UnauthorizedOperation", "AccessDeniedException"] }
    }
    "kms-key-disable-or-delete" = {
      source        = ["aws.kms"]
      "detail-type" = [local.api_call]
      detail        = { eventName = ["DisableKey", "ScheduleKeyDeletion"] }
    }
    "iam-policy-changes" = {
      source        = ["aws.iam"]
      "detail-type" = [local.api_call]
      detail = { eventName = [
        "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
        "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
        "PutUserPolicy", "AttachUserPolicy", "PutGroupPolicy", "AttachGroupPolicy",
      ] }
    }
    "endpoint-config-changes" = {
      source        = ["aws.sagemaker"]
      "detail-type" = [local.api_call]
      detail = { eventName = [
        "CreateEndpointConfig", "DeleteEndpointConfig", "UpdateEndpoint", "DeleteEndpoint",
        "UpdateEndpointWeightsAndCapacities",
      ] }
    }
  }
  rules = { for name in var.alarms : name => local.patterns[name] }
  # EventBridge rule names: <= 64 characters (52 + "-" + 5 + "-" + 4)
  rule_base = "${trim(substr(local.slug, 0, 45), "-")}-${substr(sha1(local.slug), 0, 6)}"
  topic_arn = "arn:${data.aws_partition.current.partition}:sns:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:${local.name}"
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "EventBridgePublish"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:rule/${local.rule_base}-*"]
    }
  }
}

resource "aws_sns_topic" "alerts" {
  count = var.notify == "sns" ? 1 : 0

  name   = local.name
  policy = data.aws_iam_policy_document.topic.json
  tags   = merge(var.tags, { Name = local.name })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.notify == "sns" ? toset(var.emails) : toset([])

  topic_arn = aws_sns_topic.alerts[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_rule" "alarm" {
  for_each = local.rules

  name          = "${local.rule_base}-${substr(each.key, 0, 5)}-${substr(sha1(each.key), 0, 4)}"
  description   = "labctl ${var.step}: ${each.key}"
  event_pattern = jsonencode(each.value)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "sns" {
  for_each = var.notify == "sns" ? local.rules : {}

  rule      = aws_cloudwatch_event_rule.alarm[each.key].name
  target_id = "sns"
  arn       = aws_sns_topic.alerts[0].arn
}

resource "aws_cloudwatch_dashboard" "security" {
  dashboard_name = local.name
  dashboard_body = jsonencode({
    widgets = [for i, name in keys(local.rules) : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title   = name
        region  = data.aws_region.current.region
        stat    = "Sum"
        period  = 300
        metrics = [["AWS/Events", "TriggeredRules", "RuleName", aws_cloudwatch_event_rule.alarm[name].name]]
      }
    }]
  })
}
