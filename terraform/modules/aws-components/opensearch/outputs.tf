output "domain_name" {
  description = "Name of the domain."
  value       = aws_opensearch_domain.this.domain_name
}

output "domain_endpoint" {
  description = "HTTPS endpoint of the domain (requests signed by the lab role)."
  value       = aws_opensearch_domain.this.endpoint
}
