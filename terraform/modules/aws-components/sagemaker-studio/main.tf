# A SageMaker Studio domain (IAM auth) with one user profile per environment or tenant, all
# running as the lab role. In the lab's VPC (a vpc step: private subnets and endpoints) the domain
# is VpcOnly; without one it uses the account's default VPC with Studio's internet access (a
# VpcOnly domain there could not reach the SageMaker API). `labctl down` deletes the home EFS.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_vpc" "default" {
  count   = var.in_lab_vpc ? 0 : 1
  default = true
}

data "aws_subnets" "default" {
  count = var.in_lab_vpc ? 0 : 1

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

locals {
  in_lab_vpc = var.in_lab_vpc
  vpc_id     = local.in_lab_vpc ? var.vpc_id : data.aws_vpc.default[0].id
  subnet_ids = local.in_lab_vpc ? var.subnet_ids : slice(data.aws_subnets.default[0].ids, 0, min(2, length(data.aws_subnets.default[0].ids)))
  network    = var.vpc_only && local.in_lab_vpc ? "VpcOnly" : "PublicInternetOnly"
  profiles   = toset(concat(var.environments, var.tenants))
}

resource "aws_sagemaker_domain" "this" {
  domain_name             = local.name
  auth_mode               = var.auth_mode
  vpc_id                  = local.vpc_id
  subnet_ids              = local.subnet_ids
  app_network_access_type = local.network
  kms_key_id              = var.kms_key_arn

  default_user_settings {
    execution_role  = var.role_arn
    security_groups = local.in_lab_vpc ? var.security_group_ids : null
  }

  retention_policy {
    home_efs_file_system = "Delete"
  }

  tags = merge(var.tags, { Name = local.name })
}

resource "aws_sagemaker_user_profile" "this" {
  for_each = local.profiles

  domain_id         = aws_sagemaker_domain.this.id
  user_profile_name = each.key

  user_settings {
    execution_role  = var.role_arn
    security_groups = local.in_lab_vpc ? var.security_group_ids : null
  }

  tags = merge(var.tags, { tenant = each.key })
}
