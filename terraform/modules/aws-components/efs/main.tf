# An encrypted EFS file system shared by the lab's training cluster, with a mount target in each of
# the first `mount_targets` subnets of the lab VPC (else the default VPC), NFS (2049) from that VPC
# only. The lab role may mount and write it. Billed per GB-month stored (elastic throughput per GB
# transferred): `labctl down` removes it.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  service = "NFS"
  port    = 2049
}

# The lab VPC (else the default VPC) and a security group letting NFS in from it only.
module "network" {
  source = "../_network"

  name               = local.name
  step               = var.step
  service            = local.service
  port               = local.port
  tags               = var.tags
  in_lab_vpc         = var.in_lab_vpc
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

# Stacks applied before the network moved into its module keep their security group.
moved {
  from = aws_security_group.this
  to   = module.network.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.vpc
  to   = module.network.aws_vpc_security_group_ingress_rule.vpc
}

resource "aws_efs_file_system" "this" {
  creation_token   = local.name
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = var.performance_mode
  throughput_mode  = var.throughput_mode

  lifecycle_policy {
    transition_to_ia = "AFTER_7_DAYS"
  }

  tags = merge(var.tags, { Name = local.name })
}

# `mount_targets` is a literal (count is known at plan); the subnets are not until apply.
resource "aws_efs_mount_target" "this" {
  count           = var.mount_targets
  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = element(module.network.subnet_ids, count.index)
  security_groups = module.network.security_group_ids
}

data "aws_iam_policy_document" "access" {
  statement {
    sid = "MountAndWrite"
    actions = [
      "elasticfilesystem:ClientMount",
      "elasticfilesystem:ClientWrite",
      "elasticfilesystem:DescribeMountTargets",
    ]
    resources = [aws_efs_file_system.this.arn]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.access.json
}
