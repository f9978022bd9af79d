output "application_name" {
  description = "Name of the Flink application (`aws kinesisanalyticsv2 start-application`)."
  value       = aws_kinesisanalyticsv2_application.this.name
}

output "features_prefix" {
  description = "Where the aggregates are written in the lab bucket."
  value       = "${local.output}/"
}
