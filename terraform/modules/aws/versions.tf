terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # >= 5.50: `tags` on aws_budgets_budget (added in 5.50). < 7.0: the next major may rename
      # arguments used here (v6 already deprecates data.aws_region.name); bump deliberately.
      version = ">= 5.50, < 7.0"
    }
  }
}
