output "topic_arn" {
  description = "SNS topic the alarms notify, or null."
  value       = var.notify == "sns" ? aws_sns_topic.alarms[0].arn : null
}

output "alarm_names" {
  description = "Names of the alarms."
  value       = concat(aws_cloudwatch_metric_alarm.latency[*].alarm_name, aws_cloudwatch_metric_alarm.errors[*].alarm_name)
}
