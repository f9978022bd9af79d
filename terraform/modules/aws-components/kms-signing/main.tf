# Model signing: an asymmetric SIGN_VERIFY KMS key. The lab role may sign (the digest of a model
# artifact, MessageType DIGEST) and verify before deploying; nobody may export the private key
# (KMS never does). GetPublicKey lets anyone in the account verify offline.
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
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "signing" {
  description              = "labctl ${var.name_prefix}: model signing (${var.key_spec})"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = var.key_spec
  deletion_window_in_days  = 7
  policy                   = data.aws_iam_policy_document.key.json

  tags = merge(var.tags, { Name = "${local.name}-signing" })
}

resource "aws_kms_alias" "signing" {
  name          = "alias/${local.name}-signing"
  target_key_id = aws_kms_key.signing.key_id
}

data "aws_iam_policy_document" "use" {
  statement {
    sid       = "SignAndVerifyModels"
    actions   = ["kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"]
    resources = [aws_kms_key.signing.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = [var.signing_algorithm]
    }
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.use.json
}
