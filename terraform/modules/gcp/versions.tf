terraform {
  required_version = ">= 1.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # >= 5.22: soft_delete_policy on google_storage_bucket.
      version = ">= 5.22"
    }
  }
}
