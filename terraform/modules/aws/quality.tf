# ---------------------------------------------------------------------------------------------
# Quality checks on a schedule: a lab's monitor steps check the endpoint's captured traffic in a
# SageMaker Processing job every hour (or day), started by EventBridge Scheduler's universal
# target sagemaker:CreateProcessingJob. labctl creates each schedule when the monitor step runs
# (whether Model Monitor is open to the account is known only then); this stack gives it a
# schedule group carrying the lab's tags and a role that may start only those jobs, as the lab's
# SageMaker role (the policies: the provider-free `quality` module). `labctl down` deletes the
# schedules, then this stack.
# ---------------------------------------------------------------------------------------------

locals {
  # Schedule group and IAM role: <= 64 chars. 44 + "-quality-" + 8 = 61.
  quality_name = "${trim(substr(local.slug, 0, 44), "-")}-quality-${local.suffix}"
}

module "quality" {
  source = "./quality"

  job_prefixes = var.quality_job_prefixes
  group_name   = local.quality_name
  lab_role_arn = aws_iam_role.sagemaker.arn
  partition    = local.partition
  region       = local.region
  account_id   = local.account_id
}

resource "aws_scheduler_schedule_group" "quality" {
  count = module.quality.enabled ? 1 : 0

  name = local.quality_name
  tags = merge(var.tags, { Name = local.quality_name })
}

resource "aws_iam_role" "quality" {
  count = module.quality.enabled ? 1 : 0

  name                 = local.quality_name
  description          = "labctl: EventBridge Scheduler starts the quality-check processing jobs of ${var.engineer}/${var.lab}"
  assume_role_policy   = module.quality.trust_policy
  max_session_duration = 3600

  tags = merge(var.tags, { Name = local.quality_name })
}

# Least privilege: start (and tag) the lab's quality-check jobs as the lab's role, nothing else.
resource "aws_iam_role_policy" "quality" {
  count = module.quality.enabled ? 1 : 0

  name   = "labctl-start-quality-checks"
  role   = aws_iam_role.quality[0].id
  policy = module.quality.role_policy
}
