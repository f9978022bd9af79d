# A regional WAF web ACL: the AWS managed rule groups in `managed_rules` and a per-IP rate limit
# (requests per 5 minutes), CloudWatch metrics on, sampled requests kept. It protects a REST API
# stage, ALB or AppSync API through `resource_arn` (aws_wafv2_web_acl_association); the lab's
# HTTP API (api-gateway component) cannot be associated (WAF does not front HTTP APIs), so without
# one the ACL is made for the lab to attach. Shield Standard is on for every account at no
# charge. Billed per web ACL-month and rule-month, plus per million requests.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

resource "aws_wafv2_web_acl" "this" {
  name        = local.name
  description = "labctl ${var.step}"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  dynamic "rule" {
    for_each = var.managed_rules
    content {
      name     = rule.value
      priority = rule.key + 1

      override_action {
        none {}
      }

      statement {
        managed_rule_group_statement {
          name        = rule.value
          vendor_name = "AWS"
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${local.name}-${rule.value}"
        sampled_requests_enabled   = true
      }
    }
  }

  rule {
    name     = "rate-limit"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.rate_limit_per_5min
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.name
    sampled_requests_enabled   = true
  }

  tags = merge(var.tags, { Name = local.name })
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.resource_arn == null ? 0 : 1

  resource_arn = var.resource_arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}
