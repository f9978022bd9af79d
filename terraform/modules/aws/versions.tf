terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # >= 6.19: the schema labctl's tests check against (data.aws_region.region replaces the
      # deprecated .name). < 7: the next major may rename arguments used here; bump deliberately.
      version = ">= 6.19, < 7"
    }
  }
}
