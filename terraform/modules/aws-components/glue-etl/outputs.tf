output "job_name" {
  description = "Name of the Glue job (start it with glue:StartJobRun)."
  value       = aws_glue_job.this.name
}

output "output_prefix" {
  description = "Prefix of the lab bucket holding the train/ and validation/ channels it writes."
  value       = "${local.output}/"
}

output "script_uri" {
  description = "S3 URI of the PySpark script the job runs."
  value       = "s3://${var.bucket}/${aws_s3_object.script.key}"
}
