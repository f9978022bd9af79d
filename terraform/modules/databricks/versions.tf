terraform {
  required_version = ">= 1.0"

  required_providers {
    databricks = {
      source = "databricks/databricks"
      # >= 1.97: the schema labctl's tests check against. < 2: bump the major deliberately.
      version = ">= 1.97, < 2"
    }
  }
}
