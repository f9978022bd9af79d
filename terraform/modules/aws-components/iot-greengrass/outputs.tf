output "thing_names" {
  description = "IoT things of the core devices (the Greengrass deployment's targets)."
  value       = [for t in aws_iot_thing.core : t.name]
}

output "instance_ids" {
  description = "EC2 instances running the nucleus."
  value       = [for i in aws_instance.core : i.id]
}

output "component" {
  description = "The inference component to deploy."
  value       = var.component
}
