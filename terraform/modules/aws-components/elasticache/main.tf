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
  port_to = 6379
  # replication group ids: 1-40 characters, lowercase letters, digits and hyphens
  group_id = "labctl-${substr(sha1(local.slug), 0, 12)}"
}

# The lab VPC when the lab has one, else the default VPC (its CIDR may reach the port).
data "aws_vpc" "this" {
  id      = var.in_lab_vpc ? var.vpc_id : null
  default = var.in_lab_vpc ? null : true
}

data "aws_subnets" "default" {
  count = var.in_lab_vpc ? 0 : 1

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }
}

locals {
  subnet_ids = var.in_lab_vpc ? var.subnet_ids : data.aws_subnets.default[0].ids
}

resource "aws_security_group" "this" {
  name        = local.name
  description = "labctl ${var.step}: ${local.service} from the VPC only"
  vpc_id      = data.aws_vpc.this.id
  tags        = merge(var.tags, { Name = local.name })
}

resource "aws_vpc_security_group_ingress_rule" "vpc" {
  security_group_id = aws_security_group.this.id
  description       = "${local.service} from the VPC"
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  ip_protocol       = "tcp"
  from_port         = local.port
  to_port           = local.port_to
  tags              = var.tags
}

resource "aws_elasticache_subnet_group" "this" {
  name       = local.group_id
  subnet_ids = local.subnet_ids
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
  security_group_ids         = concat([aws_security_group.this.id], var.security_group_ids)
  at_rest_encryption_enabled = "true"
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  snapshot_retention_limit   = 0
  apply_immediately          = true
  tags                       = merge(var.tags, { Name = local.name })
}
