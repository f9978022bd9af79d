# A Managed Service for Apache Flink application (PyFlink, Flink SQL): windowed aggregations over
# the lab's Kinesis stream into `<bucket>/<features_prefix>`. The script (flink_windows.py, in
# this folder) is zipped and uploaded to the lab bucket; the application is created but not
# started (`start_application`): Python applications need the Kinesis SQL connector jar in their
# zip, which labctl does not download. While running it bills parallelism / parallelism_per_kpu
# KPUs plus one for the application, per hour (the estimate counts them while up).
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  code_key   = "code/${var.step}/flink_windows.zip"
  output     = trim(var.features_prefix, "/")
  stream     = var.read_stream ? element(split("/", var.stream_arn), 1) : ""
  log_group  = "/aws/kinesis-analytics/${local.name}"
  log_arn    = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group}"
  app_window = join(",", [for s in var.windows_seconds : tostring(s)])
}

data "archive_file" "code" {
  type        = "zip"
  source_file = "${path.module}/flink_windows.py"
  output_path = "${path.module}/.build/${local.name}.zip"
}

resource "aws_s3_object" "code" {
  bucket = var.bucket
  key    = local.code_key
  source = data.archive_file.code.output_path
  etag   = data.archive_file.code.output_md5
  tags   = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["kinesisanalytics.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flink" {
  name               = "${local.name}-flink"
  description        = "labctl Managed Flink ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flink" {
  statement {
    sid       = "ReadCode"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.bucket_arn}/${local.code_key}"]
  }

  statement {
    sid       = "WriteAggregates"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/${local.output}/*"]
  }

  statement {
    sid       = "ListOutput"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:DescribeLogStreams", "logs:PutLogEvents", "logs:DescribeLogGroups"]
    resources = ["${local.log_arn}:*"]
  }

  dynamic "statement" {
    for_each = var.read_stream ? [var.stream_arn] : []
    content {
      sid = "ReadStream"
      actions = [
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
        "kinesis:ListShards",
        "kinesis:SubscribeToShard",
      ]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "flink" {
  name   = "labctl-flink"
  role   = aws_iam_role.flink.id
  policy = data.aws_iam_policy_document.flink.json
}

resource "aws_cloudwatch_log_group" "flink" {
  name              = local.log_group
  retention_in_days = 14
  tags              = var.tags
}

resource "aws_cloudwatch_log_stream" "flink" {
  name           = "application"
  log_group_name = aws_cloudwatch_log_group.flink.name
}

resource "aws_kinesisanalyticsv2_application" "this" {
  name                   = local.name
  description            = "labctl ${var.step}: windowed aggregations over the stream"
  runtime_environment    = var.runtime
  service_execution_role = aws_iam_role.flink.arn
  start_application      = var.start_application

  application_configuration {
    application_code_configuration {
      code_content_type = "ZIPFILE"

      code_content {
        s3_content_location {
          bucket_arn = var.bucket_arn
          file_key   = aws_s3_object.code.key
        }
      }
    }

    environment_properties {
      property_group {
        property_group_id = "kinesis.analytics.flink.run.options"
        property_map = {
          python  = "flink_windows.py"
          jarfile = var.connector_jar
        }
      }

      property_group {
        property_group_id = "labctl"
        property_map = {
          "stream.name"     = local.stream
          "aws.region"      = data.aws_region.current.region
          "output.path"     = "s3://${var.bucket}/${local.output}/"
          "windows.seconds" = local.app_window
        }
      }
    }

    flink_application_configuration {
      checkpoint_configuration {
        configuration_type = "DEFAULT"
      }

      monitoring_configuration {
        configuration_type = "CUSTOM"
        log_level          = "INFO"
        metrics_level      = "APPLICATION"
      }

      parallelism_configuration {
        configuration_type   = "CUSTOM"
        auto_scaling_enabled = false
        parallelism          = var.parallelism
        parallelism_per_kpu  = 1
      }
    }
  }

  cloudwatch_logging_options {
    log_stream_arn = aws_cloudwatch_log_stream.flink.arn
  }

  depends_on = [aws_iam_role_policy.flink]

  tags = merge(var.tags, { Name = local.name })
}
