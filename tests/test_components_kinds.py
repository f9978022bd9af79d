"""The components for MSK, ElastiCache, Managed Flink, WAF, EFS, X-Ray, Secrets Manager,
CodePipeline, IoT Greengrass and the s3-lifecycle inputs of module.lab: what each lab's root gets
from the catalog step's settings, what they bill, and what they leave to the learner.

Module structure and schema validity are in test_components.py and test_provider_schemas.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl import catalog, components
from labctl.prices import PriceBook

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labs() -> catalog.Catalog:
    return catalog.load(str(REPO / "labs.yaml"))


def _step(labs, lab: str, name: str):
    return next(s for s in labs.lab(lab).steps if s.name == name)


def test_streaming_edge_lab_gets_kafka_flink_cache_waf_and_greengrass(labs) -> None:
    made = {c.name: c for c in components.components(labs.lab("streaming-edge-ml"))}
    kafka, flink = made["kafka-events"], made["stream-features"]
    assert kafka.body["source"] == "./modules/aws-components/msk"
    assert kafka.body["topics"] == ["device-events"] and kafka.ignored_settings == ("serverless",)
    assert kafka.body["role_arn"] == "${module.lab.role_arn}"
    assert "in_lab_vpc" not in kafka.body  # no vpc step: the default VPC
    # the Flink application reads the lab's stream; its aggregates do not go to a data channel
    assert flink.body["stream_arn"] == "${module.telemetry-stream.stream_arn}"
    assert flink.body["read_stream"] is True
    assert flink.body["windows_seconds"] == [10, 60, 300] and flink.body["runtime"] == "FLINK-1_18"
    assert "output_prefix" not in flink.body
    cache = made["online-features"]
    assert (cache.body["engine"], cache.body["node_type"]) == ("redis", "cache.t4g.micro")
    assert cache.ignored_settings == ("writer",)
    waf = made["api-protection"]
    assert waf.body["managed_rules"] == [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    ]
    assert waf.body["rate_limit_per_5min"] == 2000 and waf.ignored_settings == ("shield",)
    edge = made["edge-deployment"]
    assert (edge.body["core_devices"], edge.body["core_device_instance"]) == (1, "t3.small")
    assert edge.body["component"] == "sensor-anomaly-inference"
    assert edge.body["bucket_arn"] == "${module.lab.bucket_arn}"
    xray = made["observability"]
    assert xray.body["endpoint_name_prefix"] == "endpoint-"
    assert xray.body["alarms"] == ["ModelLatency", "Invocation5XXErrors", "IteratorAgeMilliseconds"]


def test_networked_components_join_the_lab_vpc_when_there_is_one(labs) -> None:
    lab = labs.lab("streaming-edge-ml").model_copy(deep=True)
    at = [s.name for s in lab.steps].index("private-networking")
    lab.steps[at] = lab.steps[at].model_copy(update={"service": "vpc"})  # a vpc step instead
    made = {c.name: c.body for c in components.components(lab)}
    for name in ("kafka-events", "online-features"):
        assert made[name]["in_lab_vpc"] is True
        assert made[name]["subnet_ids"] == "${module.private-networking.subnet_ids}"
        assert made[name]["security_group_ids"] == [
            "${module.private-networking.security_group_id}"
        ]
    assert not [f for f in components.findings(lab) if "default VPC" in f.reason]


def test_what_the_new_components_leave_to_the_learner_is_said(labs) -> None:
    def notes(lab: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for f in components.findings(labs.lab(lab)):
            assert not f.fatal
            found.setdefault(f.step, []).append(f.reason)
        return found

    edge = notes("streaming-edge-ml")
    assert any("default VPC" in r for r in edge["kafka-events"])
    assert any("default VPC" in r for r in edge["online-features"])
    assert any("not started" in r for r in edge["stream-features"])
    assert any("not associated" in r for r in edge["api-protection"])
    assert any("sensor-anomaly-inference" in r for r in edge["edge-deployment"])
    assert "observability" not in edge  # no QuickSight asked there
    enterprise = notes("enterprise-ml-platform")
    assert any("QuickSight" in r and "account-wide" in r for r in enterprise["observability"])
    assert any("not rotated" in r for r in enterprise["secrets"])
    assert any("erasure" in r for r in enterprise["retention"])
    mlops = notes("mlops-multi-env")
    assert any("github source" in r and "source.zip" in r for r in mlops["ci-cd"])
    distributed = notes("distributed-training-inference")
    assert any("default VPC" in r for r in distributed["shared-filesystem"])


def test_codepipeline_stages_and_secret_follow_the_settings(labs) -> None:
    mlops = components.blocks(labs.lab("mlops-multi-env"))["ci-cd"]
    assert mlops["stages"] == ["source", "build", "deploy-staging", "approve", "deploy-production"]
    assert mlops["manual_approval"] is True
    assert (
        mlops["bucket"] == "${module.lab.bucket}" and mlops["role_arn"] == "${module.lab.role_arn}"
    )
    enterprise = components.blocks(labs.lab("enterprise-ml-platform"))
    assert enterprise["secrets"]["rotation_days"] == 30
    assert enterprise["observability"]["anomaly_detection"] == ["Invocations", "ModelLatency"]
    efs = components.blocks(labs.lab("distributed-training-inference"))["shared-filesystem"]
    assert (efs["throughput_mode"], efs["performance_mode"]) == ("elastic", "generalPurpose")


def test_s3_lifecycle_expires_raw_data_and_captures_in_the_lab_bucket(labs) -> None:
    lab = labs.lab("enterprise-ml-platform")
    retention = _step(labs, "enterprise-ml-platform", "retention")
    assert components.made_by_terraform(retention)
    assert "retention" not in components.blocks(lab)  # module.lab's inputs, no module of its own
    inputs = components.lab_inputs(lab)
    assert inputs["expire_prefixes"] == {"raw/": 90, components.CAPTURE_PREFIX: 30}
    assert "kms_key_arn" in inputs  # beside the kms step's key
    # the raw prefix is Firehose's when the lab has one
    copy = labs.lab("streaming-edge-ml").model_copy(deep=True)
    firehose = next(s for s in copy.steps if s.name == "firehose-archive")
    copy.steps.append(retention.model_copy(update={"name": "keep"}))
    assert components.lab_inputs(copy)["expire_prefixes"]["raw/telemetry/"] == 90
    assert firehose.settings["s3_prefix"] == "raw/telemetry/"


def test_the_capture_prefix_is_where_endpoints_write_their_captures() -> None:
    text = (REPO / "labctl" / "backends" / "aws" / "serving.py").read_text()
    assert f's3://{{bucket}}/{components.CAPTURE_PREFIX.rstrip("/")}"' in text


def test_lab_module_takes_the_retention_rules() -> None:
    hcl2 = pytest.importorskip("hcl2")
    module = REPO / "terraform" / "modules" / "aws"
    variables = hcl2.loads((module / "variables.tf").read_text())["variable"]
    assert any('"expire_prefixes"' in v for v in variables)
    assert "for_each = var.expire_prefixes" in (module / "main.tf").read_text()


def test_new_components_bill_by_their_settings(labs) -> None:
    def billed(lab: str, step: str) -> list[components.Billed]:
        return components.billing(_step(labs, lab, step))

    b = components.Billed
    assert billed("streaming-edge-ml", "kafka-events") == [b("msk", "serverless-cluster", 1, True)]
    assert billed("streaming-edge-ml", "online-features") == [
        b("elasticache", "cache.t4g.micro", 1, True)
    ]
    assert billed("streaming-edge-ml", "stream-features") == [b("managed-flink", "kpu", 2, True)]
    assert billed("streaming-edge-ml", "api-protection") == [
        b("waf", "web-acl", 1, True),
        b("waf", "rule", 3, True),
    ]
    assert billed("streaming-edge-ml", "edge-deployment") == [b("ec2", "t3.small", 1, True)]
    # threshold alarms the module makes (not IteratorAgeMilliseconds); anomaly bands
    assert billed("streaming-edge-ml", "observability") == [
        b("cloudwatch-alarm", "standard", 2, True)
    ]
    assert billed("enterprise-ml-platform", "observability") == [  # the module's default alarms
        b("cloudwatch-alarm", "standard", 2, True),
        b("cloudwatch-alarm", "anomaly-detection", 2, True),
    ]
    assert billed("enterprise-ml-platform", "secrets") == [b("secrets-manager", "secret", 1, True)]
    assert billed("distributed-training-inference", "shared-filesystem") == [
        b("efs", "storage", 1, False)
    ]
    assert billed("mlops-multi-env", "ci-cd") == []  # per action-minute and build-minute


def test_hourly_components_count_for_the_committed_hours(labs) -> None:
    book = PriceBook.load()
    lines, unpriced = components.estimate_lines(
        labs.lab("streaming-edge-ml"), book, "us-east-1", hours=4
    )
    assert unpriced == []
    by_step = {(line.step, line.instance_type): line for line in lines}
    assert by_step[("kafka-events", "serverless-cluster")].usd == 3.0
    assert by_step[("online-features", "cache.t4g.micro")].usd == round(0.016 * 4, 4)
    flink = by_step[("stream-features", "kpu")]
    assert (flink.count, flink.hours, flink.usd) == (2, 4, round(2 * 0.11 * 4, 4))
    assert by_step[("edge-deployment", "t3.small")].usd == round(0.0208 * 4, 4)
    lines, _ = components.estimate_lines(
        labs.lab("distributed-training-inference"), book, "eu-west-1", hours=4
    )
    efs = next(line for line in lines if line.step == "shared-filesystem")
    assert efs.usd == 0.0 and efs.note.startswith("$0.33/GB-month stored")


def test_flink_script_aggregates_the_stream_per_window(tmp_path) -> None:
    import importlib.util
    import json

    path = REPO / "terraform" / "modules" / "aws-components" / "managed-flink" / "flink_windows.py"
    spec = importlib.util.spec_from_file_location("flink_windows", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # no pyflink needed: it is imported in main() only
    groups = [
        {"PropertyGroupId": "kinesis.analytics.flink.run.options", "PropertyMap": {"python": "x"}},
        {"PropertyGroupId": "labctl", "PropertyMap": {"stream.name": "telemetry",
         "aws.region": "eu-west-1", "output.path": "s3://b/features/stream/",
         "windows.seconds": "10,60"}},
    ]  # fmt: skip
    (tmp_path / "props.json").write_text(json.dumps(groups))
    props = module.properties(str(tmp_path / "props.json"))
    assert props["stream.name"] == "telemetry"
    assert module.properties(str(tmp_path / "absent.json")) == {}
    sql = module.statements(props)
    assert len(sql) == 1 + 2 * 2  # the source, then a sink and an INSERT per window
    assert "'stream' = 'telemetry'" in sql[0] and "'aws.region' = 'eu-west-1'" in sql[0]
    assert "'path' = 's3://b/features/stream/10s/'" in sql[1]
    assert "INTERVAL '60' SECOND" in sql[4] and sql[4].startswith("INSERT INTO agg_60s")


def test_iam_and_object_tagging_bind_the_lab_roles_to_the_settings(labs) -> None:
    secure = components.blocks(labs.lab("secure-ml-pipeline"))
    roles = secure["iam-roles"]
    assert roles["source"] == "./modules/aws-components/iam"
    assert roles["roles"] == ["ingest", "training", "inference", "monitoring"]
    assert (
        roles["permissions_boundary"] is True and roles["bucket_arn"] == "${module.lab.bucket_arn}"
    )
    tagging = secure["data-classification"]
    assert tagging["levels"] == ["public", "internal", "confidential", "restricted"]
    assert (tagging["default"], tagging["abac"]) == ("confidential", True)
    assert tagging["role_arn"] == "${module.lab.role_arn}"
    tenants = components.blocks(labs.lab("enterprise-ml-platform"))["tenant-roles"]
    assert tenants["abac_tag"] == "tenant" and "auditor" in tenants["roles"]
    # IAM and object tags bill nothing by the hour
    free = [("secure-ml-pipeline", "iam-roles"), ("enterprise-ml-platform", "tenant-roles"),
            ("secure-ml-pipeline", "data-classification")]  # fmt: skip
    for lab, step in free:
        assert components.billing(_step(labs, lab, step)) == []


def test_iam_module_scopes_each_role_to_its_own_prefix() -> None:
    hcl2 = pytest.importorskip("hcl2")
    text = (REPO / "terraform" / "modules" / "aws-components" / "iam" / "main.tf").read_text()
    hcl2.loads(text)  # parses
    assert '"${var.bucket_arn}/${each.key}/*"' in text  # its own prefix, not the bucket
    assert "kms:ViaService" in text and "permissions_boundary" in text
    assert "${aws:PrincipalTag/" in text.replace("$${", "${")  # ABAC on the principal's tag
