# A Kinesis data stream the lab's generator writes to and its consumers (Lambda, Firehose) read.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

resource "aws_kinesis_stream" "this" {
  name             = local.name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn == null ? "alias/aws/kinesis" : var.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = merge(var.tags, { Name = local.name })
}
