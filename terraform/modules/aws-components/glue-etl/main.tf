# A Glue (Spark) job turning the raw zone into the training channels: reads
# s3://<bucket>/<raw_prefix>, writes s3://<bucket>/<output_prefix>{train,validation}/. The script
# (glue_etl.py) ships in this folder and is uploaded to the lab bucket.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  script_key = "code/${var.step}/glue_etl.py"
  raw        = trimsuffix(var.raw_prefix, "/")
  output     = trimsuffix(var.output_prefix, "/")
  logs_arn   = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws-glue/*"
}

resource "aws_s3_object" "script" {
  bucket = var.bucket
  key    = local.script_key
  source = "${path.module}/glue_etl.py"
  etag   = filemd5("${path.module}/glue_etl.py")
  tags   = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "glue" {
  name               = "${local.name}-glue"
  description        = "labctl Glue job ${var.step}: read ${var.raw_prefix}, write ${var.output_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "List"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.bucket_arn]
  }

  statement {
    sid     = "ReadRawAndScript"
    actions = ["s3:GetObject"]
    resources = [
      "${var.bucket_arn}/${local.raw}/*",
      "${var.bucket_arn}/${local.script_key}",
    ]
  }

  statement {
    sid       = "WriteChannelsAndTemp"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/${local.output}/*", "${var.bucket_arn}/tmp/${var.step}/*"]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.logs_arn, "${local.logs_arn}:log-stream:*"]
  }

  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # no resource-level permissions; scoped by namespace

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "BucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "labctl-glue"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

resource "aws_glue_job" "this" {
  name              = local.name
  description       = "labctl ${var.step}: raw -> training channels"
  role_arn          = aws_iam_role.glue.arn
  glue_version      = var.glue_version
  worker_type       = var.worker_type
  number_of_workers = var.number_of_workers
  timeout           = var.timeout_minutes
  max_retries       = 0

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "s3://${var.bucket}/${aws_s3_object.script.key}"
  }

  default_arguments = {
    "--job-language"                     = "python"
    "--job-bookmark-option"              = var.job_bookmarks ? "job-bookmark-enable" : "job-bookmark-disable"
    "--enable-continuous-cloudwatch-log" = "true"
    "--TempDir"                          = "s3://${var.bucket}/tmp/${var.step}/"
    "--raw_path"                         = "s3://${var.bucket}/${local.raw}/"
    "--output_path"                      = "s3://${var.bucket}/${local.output}/"
    "--output_format"                    = var.output_format
    "--validation_fraction"              = tostring(var.validation_fraction)
    "--label"                            = var.label
  }

  execution_property {
    max_concurrent_runs = 1
  }

  depends_on = [aws_iam_role_policy.glue]

  tags = merge(var.tags, { Name = local.name })
}
