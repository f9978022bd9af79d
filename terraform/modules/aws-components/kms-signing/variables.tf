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

variable "role_arn" {
  type        = string
  description = "The lab's SageMaker role (module.lab.role_arn), allowed to sign and verify."
}

# ---- step settings --------------------------------------------------------------------------

variable "key_spec" {
  type        = string
  description = "Asymmetric key spec: ECC_NIST_P256, ECC_NIST_P384, RSA_2048..."
  default     = "ECC_NIST_P256"

  validation {
    condition     = can(regex("^(ECC_|RSA_)", var.key_spec))
    error_message = "A signing key is an ECC_* or RSA_* key spec."
  }
}

variable "signing_algorithm" {
  type        = string
  description = "The only algorithm the role may use, e.g. ECDSA_SHA_256 (matches key_spec)."
  default     = "ECDSA_SHA_256"
}

variable "verify_before_deploy" {
  type        = bool
  description = "The deploy step verifies the artifact's signature (read by labctl; recorded here as an output)."
  default     = true
}
