# Least-privilege roles of the lab: one SageMaker execution role per name in `roles`, each limited
# to its own prefix of the lab bucket (`<role>/`, read and write) and read of `data/`, with KMS use
# only through S3 (kms:ViaService), under a permissions boundary (the lab bucket and SageMaker in
# this region) when `permissions_boundary`. With `abac_tag`, a role may also describe, stop and
# delete the SageMaker resources whose `<abac_tag>` tag equals its own principal tag (set it as a
# session tag when a tenant assumes the role). IAM is free.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  arn_base  = "${data.aws_partition.current.partition}:%s:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  sagemaker = "arn:${format(local.arn_base, "sagemaker")}:*"
  via_s3    = "s3.${data.aws_region.current.region}.amazonaws.com"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

# The most any role of the lab may do, whatever its own policy says.
data "aws_iam_policy_document" "boundary" {
  statement {
    sid       = "LabBucket"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [var.bucket_arn, "${var.bucket_arn}/*"]
  }

  statement {
    sid       = "SageMakerHere"
    actions   = ["sagemaker:*"]
    resources = [local.sagemaker]
  }

  statement {
    sid       = "KmsThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via_s3]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup"]
    resources = ["arn:${format(local.arn_base, "logs")}:log-group:/aws/sagemaker/*"]
  }
}

resource "aws_iam_policy" "boundary" {
  count = var.permissions_boundary ? 1 : 0

  name        = "${local.name}-boundary"
  description = "labctl ${var.step}: permissions boundary of the lab's roles"
  policy      = data.aws_iam_policy_document.boundary.json
  tags        = var.tags
}

resource "aws_iam_role" "this" {
  for_each = toset(var.roles)

  name                 = "${substr(local.name, 0, 40)}-${substr(each.key, 0, 23)}"
  description          = "labctl ${var.step}: ${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary ? aws_iam_policy.boundary[0].arn : null
  tags                 = merge(var.tags, { "labctl-role" = each.key })
}

data "aws_iam_policy_document" "role" {
  for_each = toset(var.roles)

  statement {
    sid       = "OwnPrefix"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/${each.key}/*"]
  }

  statement {
    sid       = "ReadData"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/data/*"]
  }

  statement {
    sid       = "ListOwnPrefixAndData"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.key}/*", "data/*"]
    }
  }

  statement {
    sid       = "KmsThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via_s3]
    }
  }

  dynamic "statement" {
    for_each = var.abac_tag == null ? [] : [var.abac_tag]
    content {
      sid       = "SameTagOnly"
      actions   = ["sagemaker:Describe*", "sagemaker:Stop*", "sagemaker:Delete*"]
      resources = [local.sagemaker]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value}"
        values   = ["$${aws:PrincipalTag/${statement.value}}"]
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = toset(var.roles)

  name   = "labctl-${var.step}"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.role[each.key].json
}
