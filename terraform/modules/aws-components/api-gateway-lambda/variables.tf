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

# ---- from other steps -------------------------------------------------------------------------

variable "endpoint_name_prefix" {
  type        = string
  description = "Prefix of the lab's SageMaker endpoint name (the deploy step's, `<step>-`)."
  default     = null
}

variable "endpoint_name" {
  type        = string
  description = "Exact endpoint name; null: <endpoint_name_prefix><the labctl-run tag>."
  default     = null
}

# ---- step settings --------------------------------------------------------------------------

variable "api_type" {
  type        = string
  description = "REST or HTTP: both are served by an HTTP API (see main.tf)."
  default     = "HTTP"

  validation {
    condition     = contains(["REST", "HTTP"], var.api_type)
    error_message = "The api_type is REST or HTTP."
  }
}

variable "lambda_runtime" {
  type        = string
  description = "Runtime of the scorer Lambda."
  default     = "python3.12"
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory of the scorer Lambda (MB)."
  default     = 256
}

variable "throttle_rps" {
  type        = number
  description = "Steady requests per second the stage allows (burst: twice that)."
  default     = 50
}

variable "authorization_type" {
  type        = string
  description = "NONE or AWS_IAM (SigV4-signed callers only)."
  default     = "AWS_IAM"
}
