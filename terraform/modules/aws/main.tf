data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  # Bucket names are global across all AWS accounts and IAM role names are global within the
  # account (not per region): a short hash of account/region/prefix keeps both unique without
  # a random provider, and stable across re-applies.
  # labctl slugs may contain "_", which S3 bucket names reject.
  slug   = replace(var.name_prefix, "_", "-")
  suffix = substr(sha1("${local.account_id}/${local.region}/${local.slug}"), 0, 8)

  # S3: 3-63 chars, [a-z0-9.-], must not end with "-". 63 - 1 - 8 = 54 chars of prefix.
  bucket_name = "${trim(substr(local.slug, 0, 54), "-")}-${local.suffix}"
  # IAM role: <= 64 chars. 47 + "-sm-" + 8 = 59.
  role_name = "${trim(substr(local.slug, 0, 47), "-")}-sm-${local.suffix}"
}

# ---------------------------------------------------------------------------------------------
# S3 bucket for the lab
# ---------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "lab" {
  bucket = local.bucket_name
  # `labctl down` must really remove the bucket, objects and versions included.
  force_destroy = true

  tags = merge(var.tags, { Name = local.bucket_name })
}

resource "aws_s3_bucket_ownership_controls" "lab" {
  bucket = aws_s3_bucket.lab.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lab" {
  bucket = aws_s3_bucket.lab.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lab" {
  bucket = aws_s3_bucket.lab.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lab" {
  bucket = aws_s3_bucket.lab.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # S3 Bucket Keys cut KMS request costs; meaningless (and ignored) for SSE-S3.
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lab" {
  bucket = aws_s3_bucket.lab.id

  rule {
    id     = "expire-tmp"
    status = "Enabled"

    filter {
      prefix = "tmp/"
    }

    expiration {
      days = var.scratch_expiry_days
    }
  }

  rule {
    id     = "expire-checkpoints"
    status = "Enabled"

    filter {
      prefix = "checkpoints/"
    }

    expiration {
      days = var.scratch_expiry_days
    }
  }

  rule {
    id     = "noncurrent-versions-and-uploads"
    status = "Enabled"

    # Whole bucket.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expired-delete-markers"
    status = "Enabled"

    filter {}

    expiration {
      expired_object_delete_marker = true
    }
  }

  # Retention of the lab's own prefixes (an s3-lifecycle step: raw data, endpoint captures).
  dynamic "rule" {
    for_each = var.expire_prefixes
    content {
      id     = "expire-${trim(replace(rule.key, "/", "-"), "-")}"
      status = "Enabled"

      filter {
        prefix = rule.key
      }

      expiration {
        days = rule.value
      }
    }
  }

  # Lifecycle rules on a versioned bucket must be applied after versioning is enabled.
  depends_on = [aws_s3_bucket_versioning.lab]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.lab.arn,
      "${aws_s3_bucket.lab.arn}/*",
    ]

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

resource "aws_s3_bucket_policy" "lab" {
  bucket = aws_s3_bucket.lab.id
  policy = data.aws_iam_policy_document.bucket.json

  # With BlockPublicPolicy the block must exist first; S3 also rejects concurrent bucket-level
  # configuration calls, so serialise.
  depends_on = [aws_s3_bucket_public_access_block.lab, aws_s3_bucket_ownership_controls.lab]
}

# ---------------------------------------------------------------------------------------------
# SageMaker execution role
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "SageMakerAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    dynamic "condition" {
      for_each = var.trust_source_account_condition ? [local.account_id] : []
      content {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name                 = local.role_name
  description          = "labctl SageMaker execution role for ${var.engineer}/${var.lab}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600

  tags = merge(var.tags, { Name = local.role_name })
}

locals {
  log_group_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/*"

  # AWS-owned image registries are one AWS account per region, and the account differs between
  # algorithms/frameworks (and changes as regions are added), so by default the account is left
  # open and the grant is pinned to the repository *names* in this region; labctl picks the exact
  # image URI. prebuilt_image_account_ids pins the accounts too. (The provider's
  # aws_sagemaker_prebuilt_ecr_image data source is not used: it rejects repository names missing
  # from its built-in table, e.g. sagemaker-model-monitor-analyzer.)
  prebuilt_accounts = length(var.prebuilt_image_account_ids) > 0 ? var.prebuilt_image_account_ids : ["*"]

  ecr_pull_repository_arns = concat(
    flatten([
      for name in var.prebuilt_image_repositories : [
        for account in local.prebuilt_accounts :
        "arn:${local.partition}:ecr:${local.region}:${account}:repository/${name}"
      ]
    ]),
    ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${local.slug}*"],
    var.extra_ecr_repository_arns,
  )
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "LabBucketList"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.lab.arn]
  }

  statement {
    sid    = "LabBucketObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      # Large model artifacts/checkpoints go up as multipart uploads; lets SageMaker clean up
      # a failed one.
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.lab.arn}/*"]
  }

  statement {
    sid    = "SageMakerLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [
      local.log_group_arn_prefix,
      "${local.log_group_arn_prefix}:log-stream:*",
    ]
  }

  statement {
    sid       = "SageMakerMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; scoped by namespace.

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      # Training/processing/endpoint metrics use "/aws/sagemaker/...", Model Monitor publishes
      # under "aws/sagemaker/Endpoints/data-metrics" and "aws/sagemaker/ModelMonitoring/...".
      values = ["/aws/sagemaker/*", "aws/sagemaker/*"]
    }
  }

  statement {
    sid       = "EcrAuthToken"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken supports no resource-level permissions.
  }

  statement {
    sid    = "EcrPull"
    effect = "Allow"
    actions = [
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchCheckLayerAvailability",
    ]
    resources = local.ecr_pull_repository_arns
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "LabBucketKms"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "labctl-lab-access"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# The engineer's budget is not here: one per engineer per account, in terraform/modules/aws-budget.
