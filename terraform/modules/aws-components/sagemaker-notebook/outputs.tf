output "notebook_name" {
  description = "Name of the notebook instance (create-presigned-notebook-instance-url)."
  value       = aws_sagemaker_notebook_instance.this.name
}

output "notebook_url" {
  description = "URL of the notebook instance."
  value       = aws_sagemaker_notebook_instance.this.url
}
