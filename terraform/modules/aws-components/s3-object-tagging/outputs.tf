output "tag_key" {
  description = "The classification tag."
  value       = var.tag_key
}

output "levels" {
  description = "Levels, lowest first; the lab role cannot read the last."
  value       = var.levels
}

output "default" {
  description = "Level of the lab's own data."
  value       = var.default
}
