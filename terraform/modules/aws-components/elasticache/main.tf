# An ElastiCache (Redis OSS or Valkey) replication group of one node: the online feature store a
# stream consumer writes. Encrypted at rest and in transit, in the lab VPC (else the default VPC),
# reachable on 6379 from that VPC only. Billed per node-hour while it exists: `labctl down`
# removes it (no final snapshot).
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  service = "Redis"
  port    = 6379
  # replication group ids: 1-40 characters, lowercase letters, digits and hyphens
  group_id = "labctl-${substr(sha1(local.slug), 0, 12)}"
}

# The lab VPC (else the default VPC) and a security group letting Redis in from it only.
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

resource "aws_elasticache_subnet_group" "this" {
  name       = local.group_id
  subnet_ids = module.network.subnet_ids
  tags       = merge(var.tags, { Name = local.name })
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = local.group_id
  description                = "labctl ${var.step} (${var.name_prefix})"
  engine                     = var.engine
  node_type                  = var.node_type
  num_cache_clusters         = 1
  automatic_failover_enabled = false
  port                       = local.port
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = module.network.security_group_ids
  at_rest_encryption_enabled = "true"
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  snapshot_retention_limit   = 0
  apply_immediately          = true
  tags                       = merge(var.tags, { Name = local.name })
}
