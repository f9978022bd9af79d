terraform {
  required_version = ">= 1.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # >= 7.9: the schema labctl's tests check against. < 8: bump the major deliberately.
      version = ">= 7.9, < 8"
    }
  }
}
