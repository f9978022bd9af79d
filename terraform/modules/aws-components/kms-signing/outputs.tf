output "key_arn" {
  description = "ARN of the signing key (kms:Sign with MessageType DIGEST)."
  value       = aws_kms_key.signing.arn
}

output "alias" {
  description = "Alias of the signing key."
  value       = aws_kms_alias.signing.name
}

output "signing_algorithm" {
  description = "Algorithm to sign and verify with."
  value       = var.signing_algorithm
}

output "verify_before_deploy" {
  description = "Whether the deploy step must verify the artifact signature."
  value       = var.verify_before_deploy
}
