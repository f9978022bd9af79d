locals {
  labels = merge(var.tags, var.labels)

  engineer_label = lookup(local.labels, "labctl-engineer", var.engineer)

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

  create_budget = var.billing_account != null && var.monthly_budget_usd != null

  services = concat(
    ["aiplatform.googleapis.com", "storage.googleapis.com", "bigquery.googleapis.com"],
    var.dataflow ? ["dataflow.googleapis.com", "pubsub.googleapis.com"] : [],
    local.create_budget ? ["billingbudgets.googleapis.com"] : [],
    local.create_budget && length(var.alert_emails) > 0 ? ["monitoring.googleapis.com"] : [],
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

# ---------------------------------------------------------------------------------------------
# Optional budget
# ---------------------------------------------------------------------------------------------

resource "google_monitoring_notification_channel" "budget_email" {
  for_each = local.create_budget ? toset(var.alert_emails) : toset([])

  project      = var.project
  display_name = "labctl budget ${var.engineer}: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
  user_labels = local.labels

  depends_on = [google_project_service.apis]
}

locals {
  threshold_rules = concat(
    [for t in var.alert_thresholds : { percent = t / 100, basis = "CURRENT_SPEND" }],
    [{ percent = var.alert_thresholds[length(var.alert_thresholds) - 1] / 100, basis = "FORECASTED_SPEND" }],
  )
}

resource "google_billing_budget" "engineer" {
  count = local.create_budget ? 1 : 0

  billing_account = var.billing_account
  # display_name is limited to 60 characters.
  display_name = substr("${local.slug}-monthly", 0, 60)

  budget_filter {
    # A single label key/value pair (the API allows exactly one): the engineer's labelled spend
    # across the billing account, i.e. the per-engineer budget.
    labels = {
      "labctl-engineer" = local.engineer_label
    }
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(floor(var.monthly_budget_usd))
      nanos         = floor((var.monthly_budget_usd - floor(var.monthly_budget_usd)) * 1000000000)
    }
  }

  dynamic "threshold_rules" {
    for_each = local.threshold_rules
    content {
      threshold_percent = threshold_rules.value.percent
      spend_basis       = threshold_rules.value.basis
    }
  }

  dynamic "all_updates_rule" {
    for_each = length(var.alert_emails) > 0 ? [1] : []
    content {
      monitoring_notification_channels = [for c in google_monitoring_notification_channel.budget_email : c.id]
      disable_default_iam_recipients   = false
    }
  }

  depends_on = [google_project_service.apis]
}
