# What the quality-check role may do, computed without a provider (the tests apply this module
# with Terraform itself): assumed only by this account's schedules in the lab's group; it may
# start and tag the lab's quality-check jobs, passing the lab's role to SageMaker, nothing else.

locals {
  job_arns = [
    for prefix in var.job_prefixes :
    "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}:processing-job/${lower(prefix)}-*"
  ]
}
