# A CloudTrail trail of the lab: management events, and with s3_data_events the object-level
# events of the lab bucket, delivered to its own bucket (private, TLS only, KMS-encrypted with a
# key only CloudTrail may encrypt with), log file validation on. A single-region trail by
# default: an organisation or multi-region trail is an account-wide choice.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  trail_arn = "arn:${local.partition}:cloudtrail:${local.region}:${local.account}:trail/${local.name}"
  # S3: <= 63 characters (57 + "-trail" = 63)
  bucket_name = "${local.name}-trail"
}

data "aws_iam_policy_document" "key" {
  statement {
    sid       = "AccountIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid       = "CloudTrailEncrypt"
    actions   = ["kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account}:trail/*"]
    }
  }

  statement {
    sid       = "CloudTrailDescribe"
    actions   = ["kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "trail" {
  count = var.kms_encrypted ? 1 : 0

  description             = "labctl ${var.name_prefix}: CloudTrail logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json

  tags = merge(var.tags, { Name = "${local.name}-trail" })
}

resource "aws_s3_bucket" "trail" {
  bucket        = local.bucket_name
  force_destroy = true # `labctl down` removes the logs with the lab
  tags          = merge(var.tags, { Name = local.bucket_name })
}

resource "aws_s3_bucket_public_access_block" "trail" {
  bucket                  = aws_s3_bucket.trail.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  bucket = aws_s3_bucket.trail.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  bucket = aws_s3_bucket.trail.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_encrypted ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_encrypted ? aws_kms_key.trail[0].arn : null
    }
    bucket_key_enabled = var.kms_encrypted
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.trail.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.trail.arn}/AWSLogs/${local.account}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.trail.arn, "${aws_s3_bucket.trail.arn}/*"]

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

resource "aws_s3_bucket_policy" "trail" {
  bucket     = aws_s3_bucket.trail.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.trail, aws_s3_bucket_ownership_controls.trail]
}

resource "aws_cloudtrail" "this" {
  name                          = local.name
  s3_bucket_name                = aws_s3_bucket.trail.id
  kms_key_id                    = var.kms_encrypted ? aws_kms_key.trail[0].arn : null
  enable_log_file_validation    = var.log_file_validation
  is_multi_region_trail         = var.multi_region
  include_global_service_events = var.multi_region

  event_selector {
    read_write_type           = "All"
    include_management_events = true

    dynamic "data_resource" {
      for_each = var.s3_data_events && var.bucket_arn != null ? [var.bucket_arn] : []
      content {
        type   = "AWS::S3::Object"
        values = ["${data_resource.value}/"]
      }
    }
  }

  depends_on = [aws_s3_bucket_policy.trail]

  tags = merge(var.tags, { Name = local.name })
}
