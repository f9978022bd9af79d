# CloudWatch alarms on the lab's SageMaker endpoint (p99 ModelLatency, 5XX errors), notifying an
# SNS topic (encrypted with the AWS-managed key). The endpoint is named as labctl's AWS backend
# names it: `<deploy step>-<run>` (the run from the labctl-run tag), variant AllTraffic.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  # no endpoint (a lab without a deploy step): no alarm, only the topic
  watch         = var.endpoint_name != null || var.endpoint_name_prefix != null
  endpoint_name = var.endpoint_name != null ? var.endpoint_name : "${coalesce(var.endpoint_name_prefix, "-")}${lookup(var.tags, "labctl-run", "")}"
  dimensions    = { EndpointName = local.endpoint_name, VariantName = var.variant_name }
  alarm_actions = var.notify == "sns" ? [aws_sns_topic.alarms[0].arn] : []
}

resource "aws_sns_topic" "alarms" {
  count = var.notify == "sns" ? 1 : 0

  name              = local.name
  kms_master_key_id = "alias/aws/sns"
  tags              = merge(var.tags, { Name = local.name })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.notify == "sns" ? toset(var.emails) : toset([])

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  count = local.watch && contains(var.metrics, "ModelLatency") ? 1 : 0

  alarm_name          = "${local.name}-p99-latency"
  alarm_description   = "labctl ${var.step}: p99 ModelLatency of ${local.endpoint_name} over ${var.latency_p99_ms} ms"
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  dimensions          = local.dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.latency_p99_ms * 1000 # ModelLatency is in microseconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = local.watch && contains(var.metrics, "Invocation5XXErrors") ? 1 : 0

  alarm_name          = "${local.name}-5xx"
  alarm_description   = "labctl ${var.step}: ${local.endpoint_name} returned 5XX errors"
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  dimensions          = local.dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_5xx_per_minute
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions

  tags = var.tags
}
