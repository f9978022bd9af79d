output "delivery_stream_name" {
  description = "Name of the delivery stream (PutRecordBatch target when not fed by a stream)."
  value       = aws_kinesis_firehose_delivery_stream.this.name
}

output "delivery_stream_arn" {
  description = "ARN of the delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.arn
}

output "raw_prefix" {
  description = "Prefix of the lab bucket the records land under (what the Glue job reads)."
  value       = "${local.raw_prefix}/"
}
