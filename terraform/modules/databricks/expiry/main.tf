# What the lab's expiry job carries, from inputs alone (no provider): the parent module makes the
# job; labctl's tests evaluate this module with Terraform itself.

locals {
  enabled = var.autostop_at != null && length(var.endpoint_names) > 0

  # Databricks jobs have no one-time trigger: Quartz cron for that second of that day (UTC). It
  # would come back a year later, but the task deletes the job once the endpoints are gone.
  quartz_cron_expression = var.autostop_at == null ? null : formatdate("s m h D M ?", var.autostop_at)

  # expire_endpoints.py's arguments; {{job.id}} is a Databricks dynamic value reference (the
  # job's own id, which cannot be written into its own definition).
  parameters = concat(
    ["--job-id", "{{job.id}}"],
    flatten([for name in var.endpoint_names : ["--endpoint", name]]),
  )
}
