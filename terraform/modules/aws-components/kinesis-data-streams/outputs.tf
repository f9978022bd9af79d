output "stream_name" {
  description = "Name of the stream (the generator's PutRecords target)."
  value       = aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "ARN of the stream (what Lambda and Firehose read)."
  value       = aws_kinesis_stream.this.arn
}
