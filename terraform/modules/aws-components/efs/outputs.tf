output "file_system_id" {
  description = "Id of the file system (SageMaker FileSystemDataSource / FileSystemConfig)."
  value       = aws_efs_file_system.this.id
}

output "file_system_arn" {
  description = "ARN of the file system."
  value       = aws_efs_file_system.this.arn
}
