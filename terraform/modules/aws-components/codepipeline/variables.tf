# ---- common labctl component inputs (the root module passes the same as to module.lab) ----------

variable "name_prefix" {
  type        = string
  description = "labctl slug of (engineer, lab, target), e.g. labctl-alice-churn-pipeline."
}

variable "step" {
  type        = string
  description = "Name of the lab's service step this component is made for."
}

variable "tags" {
  type        = map(string)
  description = "labctl tags (labctl-engineer, labctl-lab, labctl-run), on top of the provider's default_tags."
  default     = {}
}

# ---- from the lab module ----------------------------------------------------------------------

variable "bucket" {
  type        = string
  description = "The lab bucket (module.lab.bucket): the source zip and the artifacts (it is versioned)."
}

variable "bucket_arn" {
  type        = string
  description = "ARN of the lab bucket (module.lab.bucket_arn)."
}

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn), which the builds may pass to SageMaker."
}

# ---- step settings --------------------------------------------------------------------------

variable "stages" {
  type        = list(string)
  description = "Stages in order: source, build, approve, deploy-<env>..."
  default     = ["source", "build", "approve", "deploy-production"]

  validation {
    condition     = alltrue([for s in var.stages : contains(["source", "build", "approve"], s) || can(regex("^deploy-", s))])
    error_message = "A stage is source, build, approve or deploy-<env>."
  }
}

variable "manual_approval" {
  type        = bool
  description = "Keep the approve stage (false drops it)."
  default     = true
}

variable "build_image" {
  type        = string
  description = "CodeBuild image of the build and deploy projects."
  default     = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
}
