# The network of a component that listens in a VPC (msk, elasticache, efs): the lab VPC when the
# lab has a vpc step, else the default VPC (its subnets), and a security group of the component's
# own letting `service` in on `port` from that VPC's CIDR only.

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

resource "aws_security_group" "this" {
  name        = var.name
  description = "labctl ${var.step}: ${var.service} from the VPC only"
  vpc_id      = data.aws_vpc.this.id
  tags        = merge(var.tags, { Name = var.name })
}

resource "aws_vpc_security_group_ingress_rule" "vpc" {
  security_group_id = aws_security_group.this.id
  description       = "${var.service} from the VPC"
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  ip_protocol       = "tcp"
  from_port         = var.port
  to_port           = var.port
  tags              = var.tags
}
