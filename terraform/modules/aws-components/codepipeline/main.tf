# A CodePipeline (V2, billed per action-minute) for the lab's CI/CD: the source is the zip the
# learner puts at `<bucket>/code/<step>/source.zip` (a GitHub source needs a CodeConnections
# connection confirmed by hand in the console: labctl says so, and uses the bucket), then one
# stage per name in `stages`: `build` runs the source's buildspec.yml in CodeBuild (e.g. starts
# the SageMaker pipeline), `approve` waits for a manual approval, `deploy-<env>` runs its
# deployspec.yml with STAGE=<env>. Artifacts stay under the pipeline's own folder. CodeBuild is
# billed per build-minute.
locals {
  # <= 57 characters: fits IAM roles (64), Lambda (64), Kinesis and Firehose (64) names.
  slug = replace("${var.name_prefix}-${var.step}", "_", "-")
  name = "${trim(substr(local.slug, 0, 50), "-")}-${substr(sha1(local.slug), 0, 6)}"
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  source_key = "code/${var.step}/source.zip"
  # CodePipeline keeps a run's artifacts under the first 20 characters of the pipeline's name
  artifacts = substr(local.name, 0, 20)
  arn_base  = "${data.aws_partition.current.partition}:%s:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  log_group = "/aws/codebuild/${local.name}"
  # SageMaker pipeline and endpoint names of the lab start with the deploy prefix or name_prefix
  pipelines = "arn:${format(local.arn_base, "sagemaker")}:pipeline/${lower(var.name_prefix)}*"
  # stages after the source, in order; an approve stage only with manual_approval
  stages = [for s in var.stages : s if s != "source" && (s != "approve" || var.manual_approval)]
}

# ---- CodeBuild: build (buildspec.yml) and deploy (deployspec.yml, STAGE=<env>) ----------------

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name               = "${local.name}-cb"
  description        = "labctl CodeBuild ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${format(local.arn_base, "logs")}:log-group:${local.log_group}*"]
  }

  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.bucket_arn}/${local.artifacts}*/*"]
  }

  statement {
    sid       = "LabPipelines"
    actions   = ["sagemaker:StartPipelineExecution", "sagemaker:DescribePipelineExecution"]
    resources = [local.pipelines, "${local.pipelines}/execution/*"]
  }

  statement {
    sid       = "PassLabRole"
    actions   = ["iam:PassRole"]
    resources = [var.role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "labctl-codebuild"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

resource "aws_codebuild_project" "this" {
  for_each = toset(["build", "deploy"])

  name          = "${local.name}-${each.key}"
  description   = "labctl ${var.step}: ${each.key}"
  service_role  = aws_iam_role.codebuild.arn
  build_timeout = 30

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    compute_type = "BUILD_GENERAL1_SMALL"
    image        = var.build_image
    type         = "LINUX_CONTAINER"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = each.key == "build" ? "buildspec.yml" : "deployspec.yml"
  }

  logs_config {
    cloudwatch_logs {
      group_name = local.log_group
    }
  }

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

# ---- the pipeline ---------------------------------------------------------------------------

data "aws_iam_policy_document" "pipeline_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  name               = "${local.name}-cp"
  description        = "labctl CodePipeline ${var.step}"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "Source"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketVersioning"]
    resources = ["${var.bucket_arn}/${local.source_key}", var.bucket_arn]
  }

  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.bucket_arn}/${local.artifacts}*/*"]
  }

  statement {
    sid       = "Builds"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
    resources = [for p in aws_codebuild_project.this : p.arn]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "labctl-codepipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "this" {
  name          = local.name
  role_arn      = aws_iam_role.pipeline.arn
  pipeline_type = "V2"

  artifact_store {
    type     = "S3"
    location = var.bucket
  }

  stage {
    name = "source"

    action {
      name             = "lab-bucket"
      category         = "Source"
      owner            = "AWS"
      provider         = "S3"
      version          = "1"
      output_artifacts = ["source"]
      configuration = {
        S3Bucket             = var.bucket
        S3ObjectKey          = local.source_key
        PollForSourceChanges = "true"
      }
    }
  }

  dynamic "stage" {
    for_each = local.stages
    content {
      name = stage.value

      action {
        name            = stage.value
        category        = stage.value == "approve" ? "Approval" : "Build"
        owner           = "AWS"
        provider        = stage.value == "approve" ? "Manual" : "CodeBuild"
        version         = "1"
        input_artifacts = stage.value == "approve" ? [] : ["source"]
        configuration = stage.value == "approve" ? null : {
          ProjectName = aws_codebuild_project.this[stage.value == "build" ? "build" : "deploy"].name
          EnvironmentVariables = jsonencode([{
            name  = "STAGE"
            value = trimprefix(stage.value, "deploy-")
            type  = "PLAINTEXT"
          }])
        }
      }
    }
  }

  depends_on = [aws_iam_role_policy.pipeline]

  tags = merge(var.tags, { Name = local.name })
}
