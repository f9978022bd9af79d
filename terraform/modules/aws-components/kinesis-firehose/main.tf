# Firehose delivering into the lab bucket's raw prefix: from a Kinesis stream (`read_stream`,
# `stream_arn`), else direct PUT (the generator calls PutRecordBatch).
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_caller_identity" "current" {}

locals {
  raw_prefix = trimsuffix(var.s3_prefix, "/")
  # Parquet conversion needs a Glue table schema; this module delivers raw records, compressed.
  compression = upper(var.compression) == "NONE" ? "UNCOMPRESSED" : upper(var.compression)
  from_stream = var.read_stream
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${local.name}-fh"
  description        = "labctl Firehose ${var.step}: write ${var.s3_prefix} of the lab bucket"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "Bucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "RawPrefix"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
    resources = ["${var.bucket_arn}/${local.raw_prefix}/*", "${var.bucket_arn}/errors/${var.step}/*"]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.from_stream ? [var.stream_arn] : []
    content {
      sid = "ReadStream"
      actions = [
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
        "kinesis:ListShards",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "BucketKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "labctl-firehose"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${local.name}"
  retention_in_days = 14
  tags              = var.tags
}

resource "aws_kinesis_firehose_delivery_stream" "this" {
  name        = local.name
  destination = "extended_s3"

  dynamic "kinesis_source_configuration" {
    for_each = local.from_stream ? [var.stream_arn] : []
    content {
      kinesis_stream_arn = kinesis_source_configuration.value
      role_arn           = aws_iam_role.firehose.arn
    }
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = var.bucket_arn
    prefix              = "${local.raw_prefix}/!{timestamp:yyyy/MM/dd}/"
    error_output_prefix = "errors/${var.step}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    buffering_interval  = var.buffer_seconds
    buffering_size      = var.buffer_mb
    compression_format  = local.compression
    kms_key_arn         = var.kms_key_arn

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = "S3Delivery"
    }
  }

  # A policy must be in place before Firehose checks that it can write.
  depends_on = [aws_iam_role_policy.firehose]

  tags = merge(var.tags, { Name = local.name })
}
