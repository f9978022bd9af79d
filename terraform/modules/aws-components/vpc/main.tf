# The lab's private network: a VPC with private subnets only (no internet gateway; a NAT gateway
# only when asked), a security group allowing traffic within itself, an S3 gateway endpoint and
# interface endpoints (SageMaker API/runtime, STS, logs, KMS...) with private DNS, so SageMaker
# jobs and endpoints run in the private subnets without internet access.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  region = data.aws_region.current.region
  azs    = slice(data.aws_availability_zones.available.names, 0, var.private_subnets)
  # catalog names (sagemaker.api, kinesis-streams...) are the endpoint service suffixes
  interface = toset(var.interface_endpoints)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true # private DNS of the interface endpoints

  tags = merge(var.tags, { Name = local.name })
}

resource "aws_subnet" "private" {
  count = var.private_subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${local.name}-private-${count.index}" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${local.name}-private" })
}

resource "aws_route_table_association" "private" {
  count = var.private_subnets

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_security_group" "lab" {
  name        = "${local.name}-lab"
  description = "labctl ${var.step}: SageMaker jobs, endpoints and VPC endpoints of the lab"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${local.name}-lab" })
}

# Members talk to each other (distributed training, inter-container encryption) and to the
# interface endpoints over HTTPS; nothing from outside the group.
resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.lab.id
  referenced_security_group_id = aws_security_group.lab.id
  ip_protocol                  = "-1"
  description                  = "within the lab security group"
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.lab.id
  referenced_security_group_id = aws_security_group.lab.id
  ip_protocol                  = "-1"
  description                  = "within the lab security group"
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "s3" {
  count = var.s3_gateway_endpoint ? 1 : 0

  security_group_id = aws_security_group.lab.id
  prefix_list_id    = aws_vpc_endpoint.s3[0].prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "S3 through the gateway endpoint"
  tags              = var.tags
}

resource "aws_vpc_endpoint" "s3" {
  count = var.s3_gateway_endpoint ? 1 : 0

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]

  tags = merge(var.tags, { Name = "${local.name}-s3" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.lab.id]
  private_dns_enabled = true

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

# SageMaker makes the network interfaces of jobs and models in the private subnets (VpcConfig)
# as the lab role: the EC2 actions of the SageMaker VPC guide. Describe* has no resource-level
# permissions; the interfaces' IDs are not known before SageMaker makes them.
data "aws_iam_policy_document" "sagemaker_in_vpc" {
  statement {
    sid = "SageMakerNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:CreateNetworkInterfacePermission",
      "ec2:DeleteNetworkInterface",
      "ec2:DeleteNetworkInterfacePermission",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeVpcs",
      "ec2:DescribeDhcpOptions",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.sagemaker_in_vpc.json
}
