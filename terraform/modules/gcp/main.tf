locals {
  labels = merge(var.tags, var.labels)

  # Bucket names are global: a short hash of project/prefix keeps them unique and stable.
  # labctl slugs may contain "_", which service-account ids reject (and bucket names discourage).
  slug   = replace(var.name_prefix, "_", "-")
  suffix = substr(sha1("${var.project}/${local.slug}"), 0, 8)
  # Bucket: 3-63 chars, [a-z0-9_.-], start/end alphanumeric. 54 + "-" + 8 = 63.
  bucket_name = "${trim(substr(local.slug, 0, 54), "-")}-${local.suffix}"
  # Service account id: 6-30 chars, ^[a-z]([-a-z0-9]*[a-z0-9])$. 21 + "-" + 8 = 30.
  sa_account_id = "${trim(substr(local.slug, 0, 21), "-")}-${local.suffix}"
  # BigQuery dataset id: letters, digits, underscores; <= 1024.
  dataset_id = replace(var.name_prefix, "-", "_")

  services = concat(
    ["aiplatform.googleapis.com", "storage.googleapis.com", "bigquery.googleapis.com"],
    var.dataflow ? ["dataflow.googleapis.com", "pubsub.googleapis.com"] : [],
  )
}

resource "google_project_service" "apis" {
  for_each = toset(local.services)

  project = var.project
  service = each.value

  # Other labs (and other tools) in the project use the same APIs: never turn them off on destroy.
  disable_on_destroy         = false
  disable_dependent_services = false
}

# ---------------------------------------------------------------------------------------------
# Bucket
# ---------------------------------------------------------------------------------------------

resource "google_storage_bucket" "lab" {
  project  = var.project
  name     = local.bucket_name
  location = upper(var.region)

  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # `labctl down` must really remove the bucket, objects and versions included.
  force_destroy = true

  versioning {
    enabled = true
  }

  # Object versioning (+ the noncurrent-version rule below) is the recovery mechanism; GCS's
  # default 7-day soft delete would bill deleted scratch data a second time, and keep billing
  # for a week after `labctl down`.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      age            = var.scratch_expiry_days
      matches_prefix = ["tmp/", "scratch/", "checkpoints/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_expiry_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  labels = local.labels

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------------------------
# Service account for the lab's Vertex AI jobs
# ---------------------------------------------------------------------------------------------

resource "google_service_account" "lab" {
  project      = var.project
  account_id   = local.sa_account_id
  display_name = substr("labctl ${var.engineer}/${var.lab}", 0, 100)
  description  = "labctl: runs Vertex AI jobs for ${var.engineer}/${var.lab} (run ${var.run_id})"
}

# Bucket-level only: the SA can read/write objects of this bucket and of no other.
resource "google_storage_bucket_iam_member" "sa_object_admin" {
  bucket = google_storage_bucket.lab.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.lab.email}"
}

# storage.buckets.get on this bucket (objectAdmin lacks it): Cloud Storage FUSE (/gcs mounts in
# Vertex jobs) and some client libraries read the bucket's metadata before touching objects.
resource "google_storage_bucket_iam_member" "sa_bucket_reader" {
  bucket = google_storage_bucket.lab.name
  role   = "roles/storage.legacyBucketReader"
  member = "serviceAccount:${google_service_account.lab.email}"
}

locals {
  project_roles = concat(
    ["roles/aiplatform.user", "roles/logging.logWriter"],
    var.bigquery_dataset ? ["roles/bigquery.jobUser"] : [],
    # Dataflow workers run as the lab's service account and read the lab's subscription
    var.dataflow ? ["roles/dataflow.worker", "roles/pubsub.subscriber"] : [],
  )
}

resource "google_project_iam_member" "sa" {
  for_each = toset(local.project_roles)

  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.lab.email}"
}

resource "google_service_account_iam_member" "submitters" {
  for_each = toset(var.job_submitters)

  service_account_id = google_service_account.lab.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# Vertex AI Pipelines run as the lab's service account, and their tasks start Vertex AI jobs
# as that same account: it must be allowed to act as itself (and as no other account).
resource "google_service_account_iam_member" "pipelines_act_as_self" {
  count = var.pipelines ? 1 : 0

  service_account_id = google_service_account.lab.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.lab.email}"
}

# ---------------------------------------------------------------------------------------------
# Optional Pub/Sub source of the Dataflow streaming step
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic" "events" {
  count = var.dataflow ? 1 : 0

  project = var.project
  name    = "${local.slug}-events"
  # unread events go after a day: the lab's topic is a study source, not an archive
  message_retention_duration = "86400s"

  labels = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "events" {
  count = var.dataflow ? 1 : 0

  project = var.project
  name    = "${local.slug}-events-dataflow"
  topic   = google_pubsub_topic.events[0].id

  ack_deadline_seconds       = 60
  message_retention_duration = "86400s"

  expiration_policy {
    ttl = "604800s" # a subscription nobody reads for a week goes (labctl down removes it too)
  }

  labels = local.labels
}

# ---------------------------------------------------------------------------------------------
# Optional BigQuery dataset
# ---------------------------------------------------------------------------------------------

resource "google_bigquery_dataset" "lab" {
  count = var.bigquery_dataset ? 1 : 0

  project       = var.project
  dataset_id    = local.dataset_id
  friendly_name = "labctl ${var.engineer}/${var.lab}"
  description   = "labctl lab dataset for ${var.engineer}/${var.lab}"
  location      = var.region

  # `labctl down` removes the dataset even when it still holds tables.
  delete_contents_on_destroy = true

  labels = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_dataset_iam_member" "sa_editor" {
  count = var.bigquery_dataset ? 1 : 0

  project    = var.project
  dataset_id = google_bigquery_dataset.lab[0].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.lab.email}"
}

# The engineer's budget is not here: one per engineer per project, in terraform/modules/gcp-budget.
