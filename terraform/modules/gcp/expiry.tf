# ---------------------------------------------------------------------------------------------
# Cloud-side expiry: at var.autostop_at, Cloud Scheduler runs a Workflows workflow that undeploys
# every model of the run's Vertex AI endpoints (found by their labctl labels: their ids are made
# after apply), deletes them, then deletes the scheduler job. One service account, allowed only
# that (a custom role). Without a deadline none of this is created; `labctl down` destroys it
# with the rest of the stack (a scheduler job the workflow deleted is already gone).
# ---------------------------------------------------------------------------------------------

module "expiry" {
  source = "./expiry"

  autostop_at = var.autostop_at
  project     = var.project
  region      = var.region
  labels      = local.labels
  job_name    = local.expiry_name
}

locals {
  # Workflow and scheduler job names: letters, digits, hyphens; 45 + "-expiry-" + 8 = 61.
  expiry_name = "${trim(substr(local.slug, 0, 45), "-")}-expiry-${local.suffix}"
  # Service account id: 6-30 chars. 17 + "-exp-" + 8 = 30.
  expiry_sa_id = "${trim(substr(local.slug, 0, 17), "-")}-exp-${local.suffix}"
  # Custom role id: [a-zA-Z0-9_.], 3-64 chars.
  expiry_role_id = replace("${substr(local.slug, 0, 45)}_expiry_${local.suffix}", "-", "_")
}

resource "google_project_service" "expiry" {
  for_each = module.expiry.enabled ? toset(["workflows.googleapis.com", "cloudscheduler.googleapis.com"]) : toset([])

  project = var.project
  service = each.value

  disable_on_destroy         = false
  disable_dependent_services = false
}

resource "google_service_account" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  project      = var.project
  account_id   = local.expiry_sa_id
  display_name = substr("labctl expiry ${var.engineer}/${var.lab}", 0, 100)
  description  = "labctl: deletes the Vertex AI endpoints of ${var.engineer}/${var.lab} at their deadline"
}

# Least privilege: what the workflow calls (list, undeploy and delete endpoints; get, to follow
# their operations; delete its own scheduler job) and what the scheduler job calls (start it).
resource "google_project_iam_custom_role" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  project     = var.project
  role_id     = local.expiry_role_id
  title       = substr("labctl expiry ${var.engineer}/${var.lab}", 0, 100)
  description = "labctl: delete the lab's Vertex AI endpoints at their deadline"
  permissions = [
    "aiplatform.endpoints.delete",
    "aiplatform.endpoints.get",
    "aiplatform.endpoints.list",
    "aiplatform.endpoints.undeploy",
    "cloudscheduler.jobs.delete",
    "workflows.executions.create",
  ]
}

resource "google_project_iam_member" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  project = var.project
  role    = google_project_iam_custom_role.expiry[0].name
  member  = "serviceAccount:${google_service_account.expiry[0].email}"
}

resource "google_workflows_workflow" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  project         = var.project
  region          = var.region
  name            = local.expiry_name
  description     = "labctl autostop: delete the Vertex AI endpoints of ${var.engineer}/${var.lab} at ${var.autostop_at}"
  service_account = google_service_account.expiry[0].id
  source_contents = module.expiry.workflow_source
  labels          = local.labels
  # `labctl down` must be able to destroy it (the provider protects workflows by default).
  deletion_protection = false

  depends_on = [google_project_service.expiry, google_project_iam_member.expiry]
}

resource "google_cloud_scheduler_job" "expiry" {
  count = module.expiry.enabled ? 1 : 0

  project          = var.project
  region           = var.region
  name             = local.expiry_name
  description      = "labctl autostop of ${var.engineer}/${var.lab}: runs ${local.expiry_name} at ${var.autostop_at}"
  schedule         = module.expiry.schedule
  time_zone        = module.expiry.time_zone
  attempt_deadline = "180s"

  retry_config {
    retry_count          = 5
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = "https://workflowexecutions.googleapis.com/v1/${google_workflows_workflow.expiry[0].id}/executions"
    body        = base64encode(jsonencode({ argument = module.expiry.argument }))
    headers     = { "Content-Type" = "application/json" }

    oauth_token {
      service_account_email = google_service_account.expiry[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.expiry]
}
