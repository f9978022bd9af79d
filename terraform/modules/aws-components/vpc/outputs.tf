output "vpc_id" {
  description = "ID of the lab VPC."
  value       = aws_vpc.this.id
}

output "subnet_ids" {
  description = "Private subnets: the VpcConfig Subnets of SageMaker jobs, models and domains."
  value       = aws_subnet.private[*].id
}

output "security_group_id" {
  description = "Security group: the VpcConfig SecurityGroupIds of SageMaker jobs and models."
  value       = aws_security_group.lab.id
}

output "interface_endpoint_ids" {
  description = "Interface endpoint ID by service name (aws:SourceVpce conditions)."
  value       = { for name, ep in aws_vpc_endpoint.interface : name => ep.id }
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint, or null."
  value       = var.s3_gateway_endpoint ? aws_vpc_endpoint.s3[0].id : null
}
