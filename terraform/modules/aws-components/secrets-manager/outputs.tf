output "secret_arn" {
  description = "ARN of the secret (its value is put by hand)."
  value       = aws_secretsmanager_secret.this.arn
}

output "secret_name" {
  description = "Name of the secret."
  value       = aws_secretsmanager_secret.this.name
}
