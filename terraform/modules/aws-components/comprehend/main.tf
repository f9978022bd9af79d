# The data access role of the lab's asynchronous Comprehend jobs (started by the AWS backend, one per
# feature of the step): Comprehend may read the lab's data (`data/`) and write its results under
# `comprehend/<step>/` of the lab bucket only, using KMS through S3. Comprehend bills per unit
# (100 characters) analysed, per job.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["comprehend.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "comprehend" {
  name               = "${local.name}-cmp"
  description        = "labctl Comprehend jobs ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "comprehend" {
  statement {
    sid       = "ReadData"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/data/*"]
  }

  statement {
    sid       = "ListData"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["data/*"]
    }
  }

  statement {
    sid       = "WriteResults"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/comprehend/${var.step}/*"]
  }

  statement {
    sid       = "KmsThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "comprehend" {
  name   = "labctl-comprehend"
  role   = aws_iam_role.comprehend.id
  policy = data.aws_iam_policy_document.comprehend.json
}
