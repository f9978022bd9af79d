# A DynamoDB table (e.g. document metadata), encrypted, with point-in-time recovery.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

resource "aws_dynamodb_table" "this" {
  name           = local.name
  billing_mode   = var.billing_mode
  hash_key       = var.partition_key
  range_key      = var.sort_key
  read_capacity  = var.billing_mode == "PROVISIONED" ? var.read_capacity : null
  write_capacity = var.billing_mode == "PROVISIONED" ? var.write_capacity : null

  attribute {
    name = var.partition_key
    type = "S"
  }

  dynamic "attribute" {
    for_each = var.sort_key == null ? [] : [var.sort_key]
    content {
      name = attribute.value
      type = "S"
    }
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  # `labctl down` removes the table.
  deletion_protection_enabled = false

  tags = merge(var.tags, { Name = local.name })
}

data "aws_iam_policy_document" "access" {
  statement {
    sid = "LabTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.this.arn]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.access.json
}
