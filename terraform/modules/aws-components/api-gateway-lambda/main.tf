# An HTTP API (API Gateway v2) in front of a scorer Lambda (the `lambda` component, called as a
# nested module) that invokes the lab's SageMaker endpoint: POST /predict.
#
# The catalog's `api_type = "REST"` is served by an HTTP API: the same request/response for the
# lab, at a lower price; REST-only features (caching, usage plans) are not made.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

module "scorer" {
  source = "../lambda"

  name_prefix          = var.name_prefix
  step                 = "${var.step}-fn"
  tags                 = var.tags
  runtime              = var.lambda_runtime
  memory_mb            = var.lambda_memory_mb
  endpoint_name_prefix = var.endpoint_name_prefix
  endpoint_name        = var.endpoint_name
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${local.name}"
  retention_in_days = 14
  tags              = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  name          = local.name
  description   = "labctl ${var.step}: POST /predict -> the lab endpoint"
  protocol_type = "HTTP"
  tags          = merge(var.tags, { Name = local.name })
}

resource "aws_apigatewayv2_integration" "scorer" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.scorer.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "predict" {
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "POST /predict"
  target             = "integrations/${aws_apigatewayv2_integration.scorer.id}"
  authorization_type = var.authorization_type
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttle_rps
    throttling_burst_limit = var.throttle_rps * 2
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId = "$context.requestId"
      route     = "$context.routeKey"
      status    = "$context.status"
      latency   = "$context.integrationLatency"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.scorer.function_name
  principal     = "apigateway.amazonaws.com"
  # only this API's POST /predict route
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*/predict"
}
