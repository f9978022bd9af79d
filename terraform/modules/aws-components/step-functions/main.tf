# An ingestion workflow: a Step Functions state machine that runs the lab's Glue job (the
# glue-etl component, called as a nested module: raw -> the training channels) and waits for it
# (glue:startJobRun.sync), retrying once on Glue's transient errors.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

module "glue" {
  source = "../glue-etl"

  name_prefix       = var.name_prefix
  step              = "${var.step}-${var.glue_job}"
  tags              = var.tags
  bucket            = var.bucket
  bucket_arn        = var.bucket_arn
  raw_prefix        = var.raw_prefix
  output_prefix     = var.output_prefix
  glue_version      = var.glue_version
  worker_type       = var.worker_type
  number_of_workers = var.number_of_workers
  label             = var.label
}

locals {
  job_arn = "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:job/${module.glue.job_name}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sfn" {
  name               = "${local.name}-sfn"
  description        = "labctl Step Functions ${var.step}: run the Glue job ${var.glue_job}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "sfn" {
  statement {
    sid       = "RunGlueJob"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]
    resources = [local.job_arn]
  }
}

resource "aws_iam_role_policy" "sfn" {
  name   = "labctl-sfn"
  role   = aws_iam_role.sfn.id
  policy = data.aws_iam_policy_document.sfn.json
}

resource "aws_sfn_state_machine" "this" {
  name     = local.name
  role_arn = aws_iam_role.sfn.arn
  definition = jsonencode({
    Comment = "labctl ${var.step}: raw -> training channels"
    StartAt = "RunGlueJob"
    States = {
      RunGlueJob = {
        Type       = "Task"
        Resource   = "arn:${data.aws_partition.current.partition}:states:::glue:startJobRun.sync"
        Parameters = { JobName = module.glue.job_name }
        Retry = [{
          ErrorEquals     = ["Glue.AWSGlueException", "Glue.ConcurrentRunsExceededException"]
          IntervalSeconds = 30
          MaxAttempts     = 1
        }]
        End = true
      }
    }
  })

  depends_on = [aws_iam_role_policy.sfn]

  tags = merge(var.tags, { Name = local.name })
}
