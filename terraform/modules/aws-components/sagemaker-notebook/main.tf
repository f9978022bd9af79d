# A SageMaker notebook instance for the lab's EDA, running as the lab role (so it reads and
# writes the lab bucket only), root access off, its volume encrypted with the lab key when given.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

resource "aws_sagemaker_notebook_instance" "this" {
  name                   = local.name
  role_arn               = var.role_arn
  instance_type          = var.instance_type
  volume_size            = var.volume_gb
  kms_key_id             = var.kms_key_arn
  root_access            = "Disabled"
  direct_internet_access = var.subnet_id == null ? "Enabled" : "Disabled"
  subnet_id              = var.subnet_id
  security_groups        = var.subnet_id == null ? null : var.security_group_ids
  platform_identifier    = var.platform_identifier

  instance_metadata_service_configuration {
    minimum_instance_metadata_service_version = "2"
  }

  tags = merge(var.tags, { Name = local.name })
}
