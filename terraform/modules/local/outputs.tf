output "bucket" {
  description = "Absolute path of the lab's local bucket folder."
  value       = null_resource.bucket.triggers.path
}

output "bucket_uri" {
  description = "The bucket as a file:// URI."
  value       = "file://${null_resource.bucket.triggers.path}"
}

output "region" {
  description = "Always \"local\": the bucket lives on this machine."
  value       = "local"
}
