# AWS IoT Greengrass v2 on simulated core devices: per device an IoT thing and an EC2 instance
# (`core_device_instance`, Amazon Linux 2023, IMDSv2 only, encrypted volume, no inbound rule, in
# the default VPC: it needs the IoT endpoints) that installs the Greengrass nucleus at boot and
# registers as that thing. The devices get AWS credentials through the token exchange role (read
# the lab bucket's model artifacts, write their logs) via an IoT role alias; the instance profile
# may only provision the lab's things. The inference component (`component`) is deployed to
# the devices by the learner (`aws greengrassv2 create-component-version` / `create-deployment`).
# Billed per instance-hour while it exists: `labctl down` terminates them.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  arn_base   = "${data.aws_partition.current.partition}:%s:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  things     = [for i in range(var.core_devices) : "${local.name}-core-${i}"]
  thing_arns = [for t in local.things : "arn:${format(local.arn_base, "iot")}:thing/${t}"]
  role_alias = "${local.name}-tes"
}

data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
}

# ---- token exchange role: what the components on a device may do ------------------------------

data "aws_iam_policy_document" "tes_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["credentials.iot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "tes" {
  name               = "${local.name}-tes"
  description        = "labctl Greengrass token exchange ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.tes_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "tes" {
  statement {
    sid       = "ModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/*"]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${format(local.arn_base, "logs")}:log-group:/aws/greengrass/*"]
  }
}

resource "aws_iam_role_policy" "tes" {
  name   = "labctl-tes"
  role   = aws_iam_role.tes.id
  policy = data.aws_iam_policy_document.tes.json
}

resource "aws_iot_role_alias" "tes" {
  alias               = local.role_alias
  role_arn            = aws_iam_role.tes.arn
  credential_duration = 3600
  tags                = var.tags
}

# ---- the devices' IoT identity --------------------------------------------------------------

resource "aws_iot_thing" "core" {
  count = var.core_devices

  name       = local.things[count.index]
  attributes = { "labctl-lab" = lookup(var.tags, "labctl-lab", ""), "labctl-step" = var.step }
}

data "aws_iam_policy_document" "device" {
  statement {
    sid       = "ConnectAsItsThing"
    actions   = ["iot:Connect"]
    resources = ["arn:${format(local.arn_base, "iot")}:client/$${iot:Connection.Thing.ThingName}"]
  }

  statement {
    sid       = "GreengrassTopics"
    actions   = ["iot:Publish", "iot:Receive"]
    resources = ["arn:${format(local.arn_base, "iot")}:topic/$aws/things/$${iot:Connection.Thing.ThingName}/*", "arn:${format(local.arn_base, "iot")}:topic/${var.step}/*"]
  }

  statement {
    sid       = "GreengrassSubscriptions"
    actions   = ["iot:Subscribe"]
    resources = ["arn:${format(local.arn_base, "iot")}:topicfilter/$aws/things/$${iot:Connection.Thing.ThingName}/*", "arn:${format(local.arn_base, "iot")}:topicfilter/${var.step}/*"]
  }

  statement {
    sid       = "Credentials"
    actions   = ["iot:AssumeRoleWithCertificate"]
    resources = [aws_iot_role_alias.tes.arn]
  }

  statement {
    sid = "Deployments" # the core device's data-plane calls (no resource-level scoping)
    actions = [
      "greengrass:GetComponentVersionArtifact",
      "greengrass:ResolveComponentCandidates",
      "greengrass:GetDeploymentConfiguration",
      "greengrass:ListThingGroupsForCoreDevice",
    ]
    resources = ["*"]
  }
}

resource "aws_iot_policy" "device" {
  name   = "${local.name}-device"
  policy = data.aws_iam_policy_document.device.json
  tags   = var.tags
}

# ---- the simulated core devices -------------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "device" {
  name               = "${local.name}-dev"
  description        = "labctl Greengrass core device ${var.step}: provisions its own thing"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

# What the nucleus installer (--provision true) calls: the thing, policy and role alias exist.
data "aws_iam_policy_document" "provision" {
  statement {
    sid       = "Certificate"
    actions   = ["iot:CreateKeysAndCertificate", "iot:DescribeEndpoint"]
    resources = ["*"]
  }

  statement {
    sid       = "LabThings"
    actions   = ["iot:DescribeThing", "iot:AttachThingPrincipal", "iot:AddThingToThingGroup"]
    resources = local.thing_arns
  }

  statement {
    sid       = "LabPolicyAndAlias"
    actions   = ["iot:GetPolicy", "iot:AttachPolicy", "iot:DescribeRoleAlias"]
    resources = [aws_iot_policy.device.arn, aws_iot_role_alias.tes.arn, "arn:${format(local.arn_base, "iot")}:cert/*"]
  }

  statement {
    sid       = "TokenExchangeRole"
    actions   = ["iam:GetRole", "iam:PassRole"]
    resources = [aws_iam_role.tes.arn]
  }
}

resource "aws_iam_role_policy" "device" {
  name   = "labctl-provision"
  role   = aws_iam_role.device.id
  policy = data.aws_iam_policy_document.provision.json
}

resource "aws_iam_instance_profile" "device" {
  name = "${local.name}-dev"
  role = aws_iam_role.device.name
  tags = var.tags
}

resource "aws_security_group" "device" {
  name        = "${local.name}-dev"
  description = "labctl ${var.step}: Greengrass core devices, outbound only"
  vpc_id      = data.aws_vpc.default.id
  tags        = merge(var.tags, { Name = "${local.name}-dev" })
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.device.id
  description       = "IoT (8883/443), Greengrass and S3 endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 8883
  tags              = var.tags
}

resource "aws_instance" "core" {
  count = var.core_devices

  ami                    = data.aws_ssm_parameter.ami.value
  instance_type          = var.core_device_instance
  subnet_id              = element(data.aws_subnets.default.ids, count.index)
  vpc_security_group_ids = [aws_security_group.device.id]
  iam_instance_profile   = aws_iam_instance_profile.device.name

  user_data = templatefile("${path.module}/install_greengrass.sh", {
    region     = data.aws_region.current.region
    thing      = local.things[count.index]
    policy     = aws_iot_policy.device.name
    role_alias = aws_iot_role_alias.tes.alias
    tes_role   = aws_iam_role.tes.name
  })

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    encrypted   = true
    volume_size = 16
    volume_type = "gp3"
  }

  depends_on = [aws_iam_role_policy.device, aws_iot_thing.core]

  tags = merge(var.tags, { Name = local.things[count.index] })
}
