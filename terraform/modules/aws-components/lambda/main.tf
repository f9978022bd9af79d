# A Lambda function scoring records with the lab's SageMaker endpoint: fed by a Kinesis stream
# (`stream_arn`, an event source mapping) and/or called by API Gateway (api-gateway-lambda). The
# handler (scorer.py) ships in this folder.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  arn_base = "${data.aws_partition.current.partition}:%s:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  # SageMaker endpoint ARNs are lower case.
  endpoint_arn = var.endpoint_name_prefix == null ? null : "arn:${format(local.arn_base, "sagemaker")}:endpoint/${lower(var.endpoint_name_prefix)}*"
  log_group    = "/aws/lambda/${local.name}"
  # labctl's AWS backend names the endpoint `<deploy step>-<run>` (backends.aws.sm_name; a name
  # over 63 characters is shortened with a hash there: give endpoint_name then).
  endpoint_name = var.endpoint_name != null ? var.endpoint_name : "${coalesce(var.endpoint_name_prefix, "-")}${lookup(var.tags, "labctl-run", "")}"
}

data "archive_file" "code" {
  type        = "zip"
  source_file = "${path.module}/scorer.py"
  output_path = "${path.module}/.build/${local.name}.zip"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${local.name}-fn"
  description        = "labctl Lambda ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
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
        "kinesis:ListStreams",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.endpoint_arn == null ? [] : [local.endpoint_arn]
    content {
      sid       = "InvokeLabEndpoint"
      actions   = ["sagemaker:InvokeEndpoint"]
      resources = [statement.value]
    }
  }

}

resource "aws_iam_role_policy" "lambda" {
  name   = "labctl-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.log_group
  retention_in_days = 14
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  function_name    = local.name
  description      = "labctl ${var.step}: scores records with the lab endpoint"
  role             = aws_iam_role.lambda.arn
  runtime          = var.runtime
  handler          = "scorer.handler"
  filename         = data.archive_file.code.output_path
  source_code_hash = data.archive_file.code.output_base64sha256
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds

  environment {
    variables = {
      ENDPOINT_NAME = local.endpoint_name
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  depends_on = [aws_iam_role_policy.lambda]

  tags = merge(var.tags, { Name = local.name })
}

resource "aws_lambda_event_source_mapping" "stream" {
  count = var.read_stream ? 1 : 0

  event_source_arn                   = var.stream_arn
  function_name                      = aws_lambda_function.this.arn
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = 1
  maximum_retry_attempts             = 2
  bisect_batch_on_function_error     = true

  tags = var.tags
}
