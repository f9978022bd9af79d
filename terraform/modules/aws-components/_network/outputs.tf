output "subnet_ids" {
  description = "The subnets the component goes in: the lab VPC's private ones, else the default VPC's."
  value       = var.in_lab_vpc ? var.subnet_ids : data.aws_subnets.default[0].ids
}

output "security_group_ids" {
  description = "The component's own security group, then the lab VPC's."
  value       = concat([aws_security_group.this.id], var.security_group_ids)
}
