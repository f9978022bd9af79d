# What the lab's expiry workflow and scheduler job carry, from inputs alone (no provider): the
# parent module makes the resources; labctl's tests evaluate this module with Terraform itself.

locals {
  enabled = var.autostop_at != null

  scheduler_job = "projects/${var.project}/locations/${var.region}/jobs/${var.job_name}"

  # Cloud Scheduler has no one-time trigger: unix cron for that minute of that day, in UTC. It
  # would come back a year later, but the workflow deletes the job when it has run.
  schedule = var.autostop_at == null ? null : formatdate("m h D M *", var.autostop_at)

  match_labels = {
    for key in ["labctl-engineer", "labctl-lab", "labctl-run"] : key => var.labels[key]
  }

  # The workflow's `args` (the executions API takes the argument as a JSON string).
  argument = jsonencode({
    project       = var.project
    region        = var.region
    labels        = local.match_labels
    scheduler_job = local.scheduler_job
  })
}
