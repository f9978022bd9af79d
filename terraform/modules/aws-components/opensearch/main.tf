# An OpenSearch domain (search / k-NN index of the lab), encrypted at rest and in transit, HTTPS
# only, reachable by the lab role only (IAM-signed requests). Billed per instance-hour while it
# exists: `labctl down` removes it.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # domain names: 3-28 characters, [a-z0-9-], starting with a letter
  domain     = "labctl-${substr(sha1(local.slug), 0, 12)}"
  domain_arn = "arn:${data.aws_partition.current.partition}:es:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:domain/${local.domain}"
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "LabRole"
    actions   = ["es:ESHttp*"]
    resources = ["${local.domain_arn}/*"]

    principals {
      type        = "AWS"
      identifiers = [var.role_arn]
    }
  }
}

resource "aws_opensearch_domain" "this" {
  domain_name     = local.domain
  engine_version  = var.engine_version
  access_policies = data.aws_iam_policy_document.access.json

  cluster_config {
    instance_type          = var.instance_type
    instance_count         = var.instance_count
    zone_awareness_enabled = var.instance_count > 1
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_gb
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  tags = merge(var.tags, { Name = local.domain, "labctl-step" = var.step })
}
