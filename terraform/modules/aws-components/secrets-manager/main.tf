# A Secrets Manager secret for the credentials of an external data source, encrypted with the lab
# key when given; only the lab role may read it. Its value is put by hand (`aws secretsmanager
# put-secret-value`), never by labctl: nothing secret goes into the state. Rotated every
# `rotation_days` by `rotation_lambda_arn` when one is given (a rotation function is specific to
# the source). Billed per secret-month; `labctl down` deletes it at once (no recovery window).
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

resource "aws_secretsmanager_secret" "this" {
  name                    = local.name
  description             = "labctl ${var.step}: credentials of an external data source"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 0
  tags                    = merge(var.tags, { Name = local.name })
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "ReadTheSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.this.arn]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.access.json
}

resource "aws_secretsmanager_secret_rotation" "this" {
  count = var.rotation_lambda_arn == null ? 0 : 1

  secret_id           = aws_secretsmanager_secret.this.id
  rotation_lambda_arn = var.rotation_lambda_arn

  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}
