output "cluster_arn" {
  description = "ARN of the MSK Serverless cluster (bootstrap brokers: `aws kafka get-bootstrap-brokers`)."
  value       = aws_msk_serverless_cluster.this.arn
}

output "topics" {
  description = "Topics the lab's clients create and use."
  value       = var.topics
}
