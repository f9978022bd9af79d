output "xray_group_arn" {
  description = "ARN of the X-Ray group of the lab's services."
  value       = aws_xray_group.this.arn
}

output "alarm_names" {
  description = "Anomaly-detection alarms on the endpoint."
  value       = [for a in aws_cloudwatch_metric_alarm.anomaly : a.alarm_name]
}
