# Observability of the lab: an X-Ray group of the traces annotated `labctl_lab = <lab>` and a
# sampling rule for the lab's services (named `<name_prefix>*`, so no other service of the
# account is sampled differently), CloudWatch alarms on the endpoint (the nested cloudwatch-alarms module: ModelLatency, Invocation5XXErrors)
# and anomaly-detection alarms (a band of 2 standard deviations) on the metrics in
# `anomaly_detection`. QuickSight is not made: its subscription is account-wide (see the finding).
# X-Ray bills per trace recorded and scanned; alarms per alarm-month.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  lab = lookup(var.tags, "labctl-lab", var.name_prefix)
  # sampling rule names: at most 32 characters
  rule_name = "labctl-${substr(sha1(local.slug), 0, 12)}"
  # the endpoint as the AWS backend names it: `<deploy step>-<run>` (the labctl-run tag)
  endpoint_name = "${coalesce(var.endpoint_name_prefix, "-")}${lookup(var.tags, "labctl-run", "")}"
  watch         = var.endpoint_name_prefix != null
  threshold     = [for m in ["ModelLatency", "Invocation5XXErrors"] : m if contains(var.alarms, m)]
}

resource "aws_xray_group" "this" {
  group_name = local.name
  # traces that the lab's own instrumentation annotates with labctl_lab (the X-Ray SDK)
  filter_expression = "annotation.labctl_lab = \"${local.lab}\""

  insights_configuration {
    insights_enabled      = true
    notifications_enabled = false
  }

  tags = merge(var.tags, { Name = local.name })
}

resource "aws_xray_sampling_rule" "this" {
  rule_name      = local.rule_name
  priority       = 1000
  version        = 1
  reservoir_size = 1
  fixed_rate     = var.sampling_rate
  service_name   = "${var.name_prefix}*"
  service_type   = "*"
  host           = "*"
  http_method    = "*"
  url_path       = "*"
  resource_arn   = "*"
  tags           = merge(var.tags, { Name = local.rule_name })
}

module "alarms" {
  source = "../cloudwatch-alarms"

  name_prefix          = var.name_prefix
  step                 = var.step
  tags                 = var.tags
  endpoint_name_prefix = var.endpoint_name_prefix
  metrics              = local.threshold
  notify               = "none"
}

resource "aws_cloudwatch_metric_alarm" "anomaly" {
  for_each = local.watch ? toset(var.anomaly_detection) : toset([])

  alarm_name          = "${local.name}-${each.value}-anomaly"
  alarm_description   = "labctl ${var.step}: ${each.value} of ${local.endpoint_name} outside its expected band"
  comparison_operator = "LessThanLowerOrGreaterThanUpperThreshold"
  evaluation_periods  = 3
  threshold_metric_id = "band"
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "band"
    expression  = "ANOMALY_DETECTION_BAND(m, 2)"
    label       = "${each.value} (expected)"
    return_data = true
  }

  metric_query {
    id          = "m"
    return_data = true

    metric {
      namespace   = "AWS/SageMaker"
      metric_name = each.value
      dimensions  = { EndpointName = local.endpoint_name, VariantName = "AllTraffic" }
      period      = 300
      stat        = each.value == "Invocations" ? "Sum" : "Average"
    }
  }

  tags = var.tags
}
