# An MSK Serverless cluster (Kafka topics for complex event processing), IAM-authenticated,
# in the lab VPC (else the default VPC), reachable on 9098 from that VPC only. The lab role may
# connect, create and use topics of this cluster only. Billed per cluster-hour (plus partitions
# and data) while it exists: `labctl down` removes it. Topics are made by the lab's clients
# (kafka-topics.sh with IAM auth), not by Terraform: the `topics` output lists the ones to make.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

locals {
  service = "Kafka (IAM)"
  port    = 9098
}

# The lab VPC (else the default VPC) and a security group letting Kafka (IAM) in from it only.
module "network" {
  source = "../_network"

  name               = local.name
  step               = var.step
  service            = local.service
  port               = local.port
  tags               = var.tags
  in_lab_vpc         = var.in_lab_vpc
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

# Stacks applied before the network moved into its module keep their security group.
moved {
  from = aws_security_group.this
  to   = module.network.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.vpc
  to   = module.network.aws_vpc_security_group_ingress_rule.vpc
}

resource "aws_msk_serverless_cluster" "this" {
  cluster_name = local.name

  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }

  vpc_config {
    subnet_ids         = module.network.subnet_ids
    security_group_ids = module.network.security_group_ids
  }

  tags = merge(var.tags, { Name = local.name })
}

locals {
  # arn:...:cluster/<name>/<uuid> -> arn:...:topic/<name>/<uuid>/* and :group/<name>/<uuid>/*
  topics = "${replace(aws_msk_serverless_cluster.this.arn, ":cluster/", ":topic/")}/*"
  groups = "${replace(aws_msk_serverless_cluster.this.arn, ":cluster/", ":group/")}/*"
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [aws_msk_serverless_cluster.this.arn]
  }

  statement {
    sid = "Topics"
    actions = [
      "kafka-cluster:CreateTopic",
      "kafka-cluster:DescribeTopic",
      "kafka-cluster:WriteData",
      "kafka-cluster:ReadData",
    ]
    resources = [local.topics]
  }

  statement {
    sid       = "ConsumerGroups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = [local.groups]
  }
}

resource "aws_iam_role_policy" "lab_role" {
  name   = "labctl-${var.step}"
  role   = element(split("/", var.role_arn), length(split("/", var.role_arn)) - 1)
  policy = data.aws_iam_policy_document.access.json
}
