output "replication_group_id" {
  description = "Id of the replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "primary_endpoint" {
  description = "Host of the primary node (TLS, port 6379), reachable from the VPC."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}
