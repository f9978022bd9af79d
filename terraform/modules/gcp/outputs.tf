output "bucket" {
  description = "Name of the lab's Cloud Storage bucket."
  value       = google_storage_bucket.lab.name
}

output "bucket_uri" {
  description = "The bucket as a gs:// URI."
  value       = "gs://${google_storage_bucket.lab.name}"
}

output "service_account_email" {
  description = "Email of the service account the lab's Vertex AI jobs run as."
  value       = google_service_account.lab.email
}

output "project" {
  description = "Google Cloud project ID the lab runs in."
  value       = var.project
}

output "region" {
  description = "Region of the bucket, dataset and Vertex AI jobs."
  value       = var.region
}

output "bigquery_dataset" {
  description = "ID of the lab's BigQuery dataset, or null when bigquery_dataset is false."
  value       = var.bigquery_dataset ? google_bigquery_dataset.lab[0].dataset_id : null
}

output "pubsub_topic" {
  description = "The Pub/Sub topic the Dataflow step reads (publish sales events to it), or null."
  value       = var.dataflow ? google_pubsub_topic.events[0].id : null
}

output "pubsub_subscription" {
  description = "The subscription the Dataflow job reads, or null when dataflow is false."
  value       = var.dataflow ? google_pubsub_subscription.events[0].id : null
}
