"""A lab's AWS `service` steps as Terraform components, and the kinds never created.

Each component is a reusable module in `terraform/modules/aws-components/<folder>/`. The lab's
root module calls it once per service step (`module "<step-name>"`), beside `module "lab"`:

* inputs are the step's `settings` whose names the module declares as variables (a setting the
  module does not take is left out and named in `ignored_settings`), `step`, the lab module's
  `bucket`, `bucket_arn`, `role_arn` (as `${module.lab.<output>}`) where declared, and
  `name_prefix` and `tags`, which every component takes and the root module fills in;
* links between steps: a Lambda or Firehose after a Kinesis stream reads it, the Glue job reads
  the raw prefix Firehose writes and writes the first data step's channels
  (`data/<step>/`), API Gateway and alarms name the deploy step's endpoint prefix, Studio and
  notebooks run in a `vpc` step's private subnets;
* a `kms` step's "data" key (or its first) encrypts the lab bucket (`kms_key_arn` of module.lab);
* whether a module creates something for a link (the Lambda's event source mapping, Studio in
  the lab VPC) is a literal flag beside it (`read_stream`, `in_lab_vpc`): `count` must be known
  at plan, and another module's output is not until apply.

Kinds that change account- or organisation-wide settings are never created: `findings()` says
what to do by hand (non-fatal). Kinds not listed in either table are left to the backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from labctl.terraform import Expr

if TYPE_CHECKING:
    from labctl.backends.base import Finding
    from labctl.catalog import Lab, ServiceStep
    from labctl.cost import EstimateLine
    from labctl.prices import PriceBook

FOLDER = "aws-components"

# service kind -> module folder (a kind absent here is not made by Terraform)
MODULES: dict[str, str] = {
    "kinesis-data-streams": "kinesis-data-streams",
    "kinesis-firehose": "kinesis-firehose",
    "glue-etl": "glue-etl",
    "lambda": "lambda",
    "api-gateway-lambda": "api-gateway-lambda",
    "api-gateway": "api-gateway-lambda",  # an HTTP API whose Lambda calls the endpoint
    "dynamodb": "dynamodb",
    "kms": "kms",
    "kms-signing": "kms-signing",
    "vpc": "vpc",
    "vpc-endpoints": "vpc",  # a private VPC holding the endpoints
    "cloudtrail": "cloudtrail",
    "cloudwatch-alarms": "cloudwatch-alarms",
    "cloudwatch-dashboard": "cloudwatch-dashboard",
    "sagemaker-notebook": "sagemaker-notebook",
    "sagemaker-studio": "sagemaker-studio",
    "step-functions": "step-functions",  # a state machine running a glue-etl job
    "opensearch": "opensearch",
    "msk": "msk",  # MSK Serverless, IAM auth
    "elasticache": "elasticache",
    "managed-flink": "managed-flink",
    "waf": "waf",
    "efs": "efs",
    "cloudwatch-xray": "cloudwatch-xray",
    "secrets-manager": "secrets-manager",
    "codepipeline": "codepipeline",
    "iot-greengrass": "iot-greengrass",
    "iam": "iam",  # least-privilege roles per component / tenant
    "s3-object-tagging": "s3-object-tagging",
    "comprehend": "comprehend",  # the jobs' data access role; the AWS backend starts the jobs
}
# kinds made by inputs of module.lab itself (`lab_inputs`), not by a module of their own
LAB_MODULE_KINDS = ("s3-lifecycle",)
# kinds placed in the lab VPC's private subnets, else in the default VPC
IN_A_VPC = ("msk", "elasticache", "efs")
# where the AWS backend's endpoints write their data capture (serving.py), for s3-lifecycle
CAPTURE_PREFIX = "datacapture/"

# Kinds that would change settings for the whole account or organisation: never created.
BY_HAND: dict[str, str] = {
    "organizations": "AWS Organizations / Control Tower guardrails apply to the whole "
    "organisation: labctl does not change them; ask the organisation's administrators to attach "
    "the lab's guardrails (SCPs) to a sandbox OU",
    "lake-formation": "Lake Formation administrators and the data lake settings are account-wide: "
    "labctl does not change them; an existing administrator grants the lab role on the lab's "
    "databases (`aws lakeformation grant-permissions`)",
    "aws-config": "an account has one AWS Config recorder: labctl does not create or change it; "
    "with a recorder on, add the lab's managed rules by hand (`aws configservice "
    "put-config-rule`), and remove them after `labctl down`",
    "cost-allocation-tags": "cost allocation tags are activated for the whole (payer) account: "
    "activate labctl-engineer and labctl-lab once in the Billing console (Cost allocation tags)",
}

# outputs of module.lab a component may take, by variable name
LAB_OUTPUTS = ("bucket", "bucket_arn", "role_arn")
KMS_DATA_KEY = "data"
# the vpc module's default `interface_endpoints` (what a vpc step without the setting bills)
VPC_INTERFACE_ENDPOINTS = ["sagemaker.api", "sagemaker.runtime", "sts", "logs"]


@dataclass(frozen=True)
class Component:
    """One module call of the root: its name (the step's) and body (source and inputs)."""

    name: str
    kind: str
    body: dict[str, Any]
    ignored_settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Billed:
    """What a component bills, in the price catalog's terms (`prices.COMPONENT_USAGES`)."""

    usage: str  # e.g. "kinesis-shard"
    instance_type: str  # what is priced: "shard", "G.1X", "interface", "key"...
    count: float  # how many: shards, workers, endpoints x subnets, keys
    hourly: bool  # billed every hour it exists (counts with the lab's autostop); else per use


def billing(step: ServiceStep) -> list[Billed]:
    """What the step's component bills (empty for a kind that bills only per request, or that
    Terraform does not make). Glue bills per run (workers x run time); Firehose per GB."""
    s = step.settings

    def number(key: str, default: float) -> float:
        value = s.get(key, default)
        return float(value) if isinstance(value, int | float) else default

    match step.service:
        case "kinesis-data-streams" if s.get("stream_mode") == "PROVISIONED":
            return [Billed("kinesis-shard", "shard", number("shard_count", 1), True)]
        case "kinesis-data-streams":
            return [Billed("kinesis-on-demand", "stream", 1, True)]
        case "kinesis-firehose":
            return [Billed("firehose", "ingest", 1, False)]
        case "glue-etl" | "step-functions":
            worker = str(s.get("worker_type", "G.1X"))
            return [Billed("glue", worker, number("number_of_workers", 2), False)]
        case "vpc" | "vpc-endpoints":
            endpoints = s.get("interface_endpoints", VPC_INTERFACE_ENDPOINTS)
            n = len(endpoints) if isinstance(endpoints, list) else 0
            return [Billed("vpc-endpoint", "interface", n * number("private_subnets", 2), True)]
        case "kms":
            keys = s.get("keys")
            return [Billed("kms", "key", len(keys) if isinstance(keys, list) else 1, True)]
        case "kms-signing":
            return [Billed("kms", "key", 1, True)]
        case "cloudtrail" if s.get("kms_encrypted", True):
            return [Billed("kms", "key", 1, True)]
        case "opensearch":
            itype = str(s.get("instance_type", "t3.small.search"))
            return [Billed("opensearch", itype, number("instance_count", 1), True)]
        case "sagemaker-notebook":
            return [Billed("notebook", str(s.get("instance_type", "ml.t3.medium")), 1, True)]
        case "msk":  # partitions and data extra
            return [Billed("msk", "serverless-cluster", 1, True)]
        case "elasticache":
            return [Billed("elasticache", str(s.get("node_type", "cache.t4g.micro")), 1, True)]
        case "managed-flink":  # one KPU per parallelism, one for the application, while running
            return [Billed("managed-flink", "kpu", number("parallelism", 1) + 1, True)]
        case "waf":  # the rate-limit rule and one per managed rule group
            rules = s.get("managed_rules", ["AWSManagedRulesCommonRuleSet"])
            n = len(rules) if isinstance(rules, list) else 1
            return [Billed("waf", "web-acl", 1, True), Billed("waf", "rule", n + 1, True)]
        case "efs":
            return [Billed("efs", "storage", 1, False)]
        case "cloudwatch-xray":  # X-Ray traces are per request
            alarms = s.get("alarms", ["ModelLatency", "Invocation5XXErrors"])
            alarms = [a for a in alarms if a in XRAY_THRESHOLD_ALARMS]
            bands = s.get("anomaly_detection", [])
            return [
                Billed("cloudwatch-alarm", kind, len(names), True)
                for kind, names in (("standard", alarms), ("anomaly-detection", bands))
                if isinstance(names, list) and names
            ]
        case "secrets-manager":
            return [Billed("secrets-manager", "secret", 1, True)]
        case "iot-greengrass":  # the simulated core devices
            itype = str(s.get("core_device_instance", "t3.small"))
            return [Billed("ec2", itype, number("core_devices", 1), True)]
    return []


# endpoint alarms the cloudwatch-xray module makes with a threshold (its nested cloudwatch-alarms)
XRAY_THRESHOLD_ALARMS = ("ModelLatency", "Invocation5XXErrors")
# what a per-GB usage's rate is for, in its estimate line
PER_GB_WHAT = {"firehose": "GB ingested", "efs": "GB-month stored"}


GLUE_RUN_HOURS = 0.25  # a lab-sized Glue run, for estimates (billed per second, 1-minute minimum)


def estimate_lines(
    lab: Lab, prices: PriceBook, region: str, hours: float
) -> tuple[list[EstimateLine], list[str]]:
    """What the lab's components cost in one `up`, as `cost.estimate` lines, and the unpriced.

    Hourly components count for `hours` (what `up` commits to: its autostop, as endpoints);
    Glue for one run of GLUE_RUN_HOURS; Firehose is per GB, so its line says the rate and adds
    nothing (the volume is the generator's)."""
    from labctl.cost import EstimateLine, priced_line
    from labctl.prices import PER_GB

    lines: list[EstimateLine] = []
    unpriced: list[str] = []
    for step in service_steps(lab):
        if not made_by_terraform(step):
            continue
        for b in billing(step):
            if b.usage in PER_GB:
                rows = prices.rows("aws")
                rate = next(
                    (
                        r["usd_per_hour"]
                        for r in rows
                        if (r["usage"], r["region"]) == (b.usage, region)
                    ),
                    None,
                )
                what = PER_GB_WHAT.get(b.usage, "GB")
                note = f"${rate}/{what}, not in the total" if rate else "per GB, unpriced"
                lines.append(
                    EstimateLine(step.name, "service", b.instance_type, 1, 0, None, 0.0, note)
                )
                continue
            span = hours if b.hourly else GLUE_RUN_HOURS
            count = int(b.count) if float(b.count).is_integer() else b.count
            note = f"{b.usage}, while up" if b.hourly else f"{b.usage}, one run"
            lines.append(priced_line(prices, cloud="aws", region=region, usage=b.usage,
                                     step=step.name, kind="service", instance_type=b.instance_type,
                                     count=count, hours=span, note=note,
                                     unpriced=unpriced))  # fmt: skip
    return lines, unpriced


@cache
def _variables(folder: str) -> frozenset[str]:
    from labctl import terraform

    return frozenset(terraform.module_variables(f"{FOLDER}/{folder}"))


def service_steps(lab: Lab) -> list[ServiceStep]:
    from labctl.catalog import ServiceStep

    return [s for s in lab.steps if isinstance(s, ServiceStep)]


def components(lab: Lab) -> list[Component]:
    """The module calls for the lab's service steps that Terraform makes, in step order."""
    from labctl.catalog import DataStep, DeployStep

    steps = service_steps(lab)
    stream = next((s.name for s in steps if s.service == "kinesis-data-streams"), None)
    firehose = next((s for s in steps if s.service == "kinesis-firehose"), None)
    data_step = next((s for s in lab.steps if isinstance(s, DataStep)), None)
    deploy = next((s.name for s in lab.steps if isinstance(s, DeployStep)), None)
    vpc = next((s.name for s in steps if s.service == "vpc"), None)
    links: dict[str, Any] = {
        **{name: Expr(f"${{module.lab.{name}}}") for name in LAB_OUTPUTS},
        # a reader of the stream: the flag is a literal (the ARN is unknown until apply)
        "stream_arn": Expr(f"${{module.{stream}.stream_arn}}") if stream else None,
        "read_stream": True if stream else None,
        "raw_prefix": str(firehose.settings.get("s3_prefix", "raw/")) if firehose else "raw/",
        "output_prefix": f"data/{data_step.name}/" if data_step else "curated/",
        "label": label_column(data_step.generator) if data_step else None,
        "endpoint_name_prefix": endpoint_prefix(deploy) if deploy else None,
    }
    if vpc:  # the lab's private network: Studio, notebooks
        links |= {
            "in_lab_vpc": True,
            "vpc_id": Expr(f"${{module.{vpc}.vpc_id}}"),
            "subnet_ids": Expr(f"${{module.{vpc}.subnet_ids}}"),
            "subnet_id": Expr(f"${{module.{vpc}.subnet_ids[0]}}"),
            "security_group_ids": [Expr(f"${{module.{vpc}.security_group_id}}")],
        }
    out: list[Component] = []
    for step in steps:
        if step.service not in MODULES:
            continue
        folder = MODULES[step.service]
        declared = _variables(folder)
        body: dict[str, Any] = {"source": f"./modules/{FOLDER}/{folder}"}
        body |= {k: v for k, v in links.items() if k in declared and v is not None}
        body["step"] = step.name
        if step.service == "kinesis-data-streams" or step.name == stream:
            body.pop("stream_arn", None)  # a stream does not read itself
            body.pop("read_stream", None)
        settings = {k: v for k, v in step.settings.items() if k in declared}
        body |= settings
        ignored = tuple(sorted(set(step.settings) - set(settings)))
        out.append(Component(step.name, step.service, body, ignored))
    return out


def lab_inputs(lab: Lab) -> dict[str, Any]:
    """What the components change in module.lab's own inputs: the kms step's data key encrypts
    the bucket; an s3-lifecycle step's retention expires the raw prefix (Firehose's) and the
    endpoints' data capture."""
    steps = service_steps(lab)
    inputs: dict[str, Any] = {}
    kms = next((s for s in steps if s.service == "kms"), None)
    if kms is not None:
        keys = kms.settings.get("keys")
        names = [str(k) for k in keys] if isinstance(keys, list) and keys else [KMS_DATA_KEY]
        key = KMS_DATA_KEY if KMS_DATA_KEY in names else names[0]
        inputs["kms_key_arn"] = Expr(f'${{module.{kms.name}.key_arns["{key}"]}}')
    lifecycle = next((s for s in steps if s.service == "s3-lifecycle"), None)
    if lifecycle is not None:
        firehose = next((s for s in steps if s.service == "kinesis-firehose"), None)
        raw = str(firehose.settings.get("s3_prefix", "raw/")) if firehose else "raw/"
        days = {raw: lifecycle.settings.get("expire_raw_days"),
                CAPTURE_PREFIX: lifecycle.settings.get("expire_captures_days")}  # fmt: skip
        expire = {p: int(d) for p, d in days.items() if isinstance(d, int) and d > 0}
        if expire:
            inputs["expire_prefixes"] = expire
    return inputs


def label_column(generator: str) -> str | None:
    """The label column of a data generator's raw records (what the Glue job keeps first)."""
    import importlib

    from labctl import datagen

    if not datagen.available(generator):
        return None
    found = getattr(importlib.import_module(datagen.MODULES[generator]), "GENERATORS", {})
    return getattr(found.get(generator), "label", None)


def endpoint_prefix(step_name: str) -> str:
    """The part of a deploy step's endpoint name that does not change between runs (the AWS
    backend names it `<step>-<run>`, `backends.aws.sm_name`)."""
    return (re.sub(r"[^a-zA-Z0-9-]+", "-", step_name).strip("-") or "x") + "-"


def blocks(lab: Lab) -> dict[str, dict[str, Any]]:
    """`module` blocks of the root, by step name (the shape `RootModule.components` takes; the
    root adds `name_prefix` and `tags`, the same as module.lab's)."""
    return {c.name: c.body for c in components(lab)}


def findings(lab: Lab) -> list[Finding]:
    """Non-fatal findings for the lab's service steps that are never created (do by hand)."""
    from labctl.backends.base import Finding

    steps = service_steps(lab)
    found = [
        Finding(step.name, f"'{step.service}' is not created: {BY_HAND[step.service]}", fatal=False)
        for step in steps
        if step.service in BY_HAND
    ]
    found += [Finding(step.name, note, fatal=False) for step in steps for note in _notes(step)]
    if not any(s.service == "vpc" for s in steps):
        found += [
            Finding(
                step.name,
                f"'{step.service}' without a vpc step: it is placed in the default VPC's "
                "subnets (reachable from that VPC only); add a vpc step for private subnets",
                fatal=False,
            )
            for step in steps
            if step.service in IN_A_VPC
        ]
        found += [
            Finding(
                step.name,
                "vpc_only without a vpc step: the Studio domain uses the default "
                "VPC with internet access (PublicInternetOnly)",
                fatal=False,
            )
            for step in steps
            if step.service == "sagemaker-studio" and step.settings.get("vpc_only")
        ]
    return found


def _notes(step: ServiceStep) -> list[str]:
    """What a component leaves to the learner, by its settings (each a non-fatal finding)."""
    s = step.settings
    match step.service:
        case "cloudwatch-xray" if s.get("quicksight"):
            return ["QuickSight is not created: its subscription is account-wide; build the "
                    "dashboard in an existing QuickSight account"]  # fmt: skip
        case "codepipeline" if s.get("source", "s3") != "s3":
            return [f"the pipeline's source is code/{step.name}/source.zip in the lab bucket: a "
                    f"{s['source']} source needs a CodeConnections connection confirmed by hand "
                    "in the console"]  # fmt: skip
        case "managed-flink":
            return ["the Flink application is created, not started: add the Kinesis SQL connector "
                    "jar to its zip (lib/), then `aws kinesisanalyticsv2 start-application`; the "
                    "estimate counts its KPUs while up"]  # fmt: skip
        case "secrets-manager" if s.get("rotation_days") and not s.get("rotation_lambda_arn"):
            return ["the secret is not rotated: rotation needs the source's rotation function "
                    "(settings.rotation_lambda_arn); its value is put by hand"]  # fmt: skip
        case "waf" if not s.get("resource_arn"):
            return ["the web ACL is not associated: WAF fronts REST API stages and ALBs, not "
                    "the lab's HTTP API (settings.resource_arn to attach one)"]  # fmt: skip
        case "iot-greengrass":
            return [f"the core devices run the nucleus; deploy the component "
                    f"'{s.get('component', 'labctl-inference')}' to them by hand "
                    "(aws greengrassv2 create-deployment)"]  # fmt: skip
        case "s3-lifecycle" if s.get("erasure_job"):
            return ["the right-to-erasure job is not created: delete a person's objects by "
                    "prefix (aws s3 rm --recursive) and their versions"]  # fmt: skip
    return []


def step_outputs(stack_outputs: dict[str, Any], step_name: str) -> dict[str, Any]:
    """A component step's outputs (stream name, job name, API URL...) from `terraform output`
    of the root (`Stack.outputs()`): its entry in the `components` output."""
    return dict((stack_outputs.get("components") or {}).get(step_name) or {})


def made_by_terraform(step: ServiceStep) -> bool:
    """The step is a component of the rendered root module, or inputs of module.lab (the
    backend has nothing to do)."""
    return step.service in MODULES or step.service in LAB_MODULE_KINDS
