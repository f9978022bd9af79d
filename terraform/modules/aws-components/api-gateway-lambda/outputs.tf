output "api_endpoint" {
  description = "Base URL of the API; POST <url>/predict."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "function_name" {
  description = "Name of the scorer Lambda behind the API."
  value       = module.scorer.function_name
}
