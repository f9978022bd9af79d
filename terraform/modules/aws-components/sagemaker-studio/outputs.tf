output "domain_id" {
  description = "ID of the Studio domain."
  value       = aws_sagemaker_domain.this.id
}

output "user_profiles" {
  description = "User profile names (one per environment or tenant)."
  value       = sort([for p in aws_sagemaker_user_profile.this : p.user_profile_name])
}

output "network" {
  description = "The domain's network access: VpcOnly (lab VPC) or PublicInternetOnly (default VPC)."
  value       = local.network
}
