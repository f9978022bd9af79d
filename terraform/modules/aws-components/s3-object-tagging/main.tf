# Data classification of the lab bucket's objects by a tag (`tag_key`, one of `levels`): the lab
# role may tag objects with those levels only (s3:RequestObjectTag), and with `abac`, attribute-
# based access: the role is denied reading objects tagged with the highest level (its data is
# classified at most `default`). Tags are free (S3 object tags bill per 10,000 per month).
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  top = var.levels[length(var.levels) - 1]
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "TagWithTheLevelsOnly"
    actions   = ["s3:PutObjectTagging", "s3:PutObject"]
    resources = ["${var.bucket_arn}/*"]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "s3:RequestObjectTag/${var.tag_key}"
      values   = var.levels
    }
  }

  statement {
    sid       = "ReadTags"
    actions   = ["s3:GetObjectTagging"]
    resources = ["${var.bucket_arn}/*"]
  }

  dynamic "statement" {
    for_each = var.abac ? [local.top] : []
    content {
      sid       = "NoReadAboveClearance"
      effect    = "Deny"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${var.bucket_arn}/*"]

      condition {
        test     = "StringEquals"
        variable = "s3:ExistingObjectTag/${var.tag_key}"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.access.json
}
