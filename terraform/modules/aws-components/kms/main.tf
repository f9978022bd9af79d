# Customer-managed KMS keys, one per name in `keys` (e.g. data, model-artifacts, volumes, logs),
# with rotation. The key policy delegates to IAM in this account (the lab role's own policies
# grant use); with deny_insecure_transport, requests not over TLS are denied. The "data" key (or
# the first) encrypts the lab bucket: labctl passes it to module.lab's kms_key_arn.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "key" {
  statement {
    sid       = "AccountIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = var.deny_insecure_transport ? [1] : []
    content {
      sid       = "DenyInsecureTransport"
      effect    = "Deny"
      actions   = ["kms:*"]
      resources = ["*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = toset(var.keys)

  description             = "labctl ${var.name_prefix}: ${each.key}"
  enable_key_rotation     = var.key_rotation
  deletion_window_in_days = var.deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_kms_alias" "this" {
  for_each = aws_kms_key.this

  name          = "alias/${local.name}-${each.key}"
  target_key_id = each.value.key_id
}

data "aws_iam_policy_document" "use" {
  statement {
    sid       = "UseLabKeys"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = [for k in aws_kms_key.this : k.arn]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.use.json
}
