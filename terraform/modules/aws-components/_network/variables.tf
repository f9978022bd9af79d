variable "name" {
  type        = string
  description = "The component's name (its security group's)."
}

variable "step" {
  type        = string
  description = "Name of the lab's service step the component is made for."
}

variable "service" {
  type        = string
  description = "What listens on `port`, for the rule's description (e.g. NFS)."
}

variable "port" {
  type        = number
  description = "The TCP port the VPC may reach."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags."
  default     = {}
}

variable "in_lab_vpc" {
  type        = bool
  description = "true when the lab has a vpc step (a literal: count is known at plan); false: the default VPC."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "The lab VPC when in_lab_vpc."
  default     = null
}

variable "subnet_ids" {
  type        = list(string)
  description = "The lab VPC's private subnets when in_lab_vpc."
  default     = []
}

variable "security_group_ids" {
  type        = list(string)
  description = "The lab VPC's security group, added after the component's own."
  default     = []
}
