output "pipeline_name" {
  description = "Name of the pipeline."
  value       = aws_codepipeline.this.name
}

output "source_key" {
  description = "Key in the lab bucket of the source zip (buildspec.yml, deployspec.yml and the code)."
  value       = local.source_key
}
