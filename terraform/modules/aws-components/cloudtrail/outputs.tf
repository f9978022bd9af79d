output "trail_arn" {
  description = "ARN of the trail."
  value       = aws_cloudtrail.this.arn
}

output "log_bucket" {
  description = "Bucket the trail writes to."
  value       = aws_s3_bucket.trail.id
}

output "kms_key_arn" {
  description = "Key encrypting the logs, or null."
  value       = var.kms_encrypted ? aws_kms_key.trail[0].arn : null
}
