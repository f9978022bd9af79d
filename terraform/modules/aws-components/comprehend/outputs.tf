output "data_access_role_arn" {
  description = "The role the backend's Comprehend jobs run as."
  value       = aws_iam_role.comprehend.arn
}

output "output_prefix" {
  description = "Where the jobs write their results in the lab bucket."
  value       = "comprehend/${var.step}/"
}
