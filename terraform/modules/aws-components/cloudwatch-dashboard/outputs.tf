output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.security.dashboard_name
}

output "topic_arn" {
  description = "SNS topic the rules notify, or null."
  value       = var.notify == "sns" ? aws_sns_topic.alerts[0].arn : null
}

output "rule_names" {
  description = "EventBridge rule name by alarm."
  value       = { for name, rule in aws_cloudwatch_event_rule.alarm : name => rule.name }
}
