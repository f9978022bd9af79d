output "web_acl_arn" {
  description = "ARN of the web ACL (associate it with a REST API stage or ALB)."
  value       = aws_wafv2_web_acl.this.arn
}
