# One billing budget per engineer per project: the cost labelled labctl-engineer=<engineer> in
# this project, on the project's billing account. See README.md (quota project, permissions).

data "google_project" "this" {
  project_id = var.project
}

locals {
  services = concat(
    ["billingbudgets.googleapis.com"],
    length(var.alert_emails) > 0 ? ["monitoring.googleapis.com"] : [],
  )

  threshold_rules = concat(
    [for t in var.alert_thresholds : { percent = t / 100, basis = "CURRENT_SPEND" }],
    [{ percent = var.alert_thresholds[length(var.alert_thresholds) - 1] / 100, basis = "FORECASTED_SPEND" }],
  )
}

resource "google_project_service" "apis" {
  for_each = toset(local.services)

  project = var.project
  service = each.value

  # The labs (and other tools) in the project may use the same APIs: never turn them off.
  disable_on_destroy         = false
  disable_dependent_services = false
}

resource "google_monitoring_notification_channel" "budget_email" {
  for_each = toset(var.alert_emails)

  project      = var.project
  display_name = "labctl budget ${var.engineer}: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
  user_labels = var.labels

  depends_on = [google_project_service.apis]
}

resource "google_billing_budget" "engineer" {
  billing_account = var.billing_account
  # display_name: at most 60 characters.
  display_name = substr("labctl-${var.project}-${var.engineer}", 0, 60)

  budget_filter {
    # The API takes exactly one label pair: the engineer's labelled spend, in this project only.
    projects = ["projects/${data.google_project.this.number}"]
    labels = {
      "labctl-engineer" = var.engineer
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
