"""The price catalog: every shipped row parses and covers what the labs use; lookups combine
accelerators and DBUs correctly; malformed files name their line; the AWS refresh is safe."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from labctl import paths, prices
from labctl.errors import LabctlError, UsageError
from labctl.prices import CATALOG_VERSION, COLUMNS, USAGES, PriceBook, refresh_aws

SHIPPED = paths.data_file("prices.csv")
AWS_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
GCP_REGIONS = ("us-central1", "europe-west4")
_CORE = [
    "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.c5.xlarge",
    "ml.c5.2xlarge", "ml.c5.4xlarge", "ml.r5.xlarge", "ml.p3.2xlarge", "ml.g4dn.xlarge",
    "ml.g5.xlarge", "ml.g5.2xlarge",
]  # fmt: skip
AWS_REQUIRED = {
    "training": [*_CORE, "ml.p4d.24xlarge"],
    "hosting": ["ml.t3.medium", *_CORE, "ml.inf2.xlarge"],
    "batch-transform": _CORE,
    "processing": _CORE,
    "notebook": ["ml.t3.medium"],
}
GCP_MACHINES = [
    "n1-standard-4", "n1-standard-8", "n1-standard-16", "n1-highmem-8", "e2-standard-4",
    "e2-standard-8", "a2-highgpu-1g",
]  # fmt: skip
GCP_GPUS = ["NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_A100"]
DATABRICKS_NODES = ["i3.xlarge", "i3.2xlarge", "m5d.large", "m5d.xlarge", "r5d.xlarge"]


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("LABCTL_PRICES", raising=False)


def _shipped_rows() -> list[dict[str, str]]:
    with SHIPPED.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- the shipped catalog ------------------------------------------------------------------------


def test_every_shipped_row_parses_with_source_and_date():
    raw = _shipped_rows()
    book = PriceBook.load()
    assert len(book.rows()) == len(raw) > 200
    for row in raw:
        assert tuple(row) == COLUMNS
        assert row["cloud"] in USAGES and row["usage"] in USAGES[row["cloud"]]
        assert float(row["usd_per_hour"]) > 0
        assert row["source"].strip(), row
        date.fromisoformat(row["as_of"])
        if row["region"] not in (prices.DEFAULT_REGION[row["cloud"]], "us-central1"):
            # a figure for a region other than the anchor one is the page's or says it's derived
            assert "derived" in row["source"] or row["source"] == prices.AWS_SOURCE, row


def test_catalog_version_is_the_newest_as_of():
    assert max(r["as_of"] for r in _shipped_rows())[:7] == CATALOG_VERSION
    assert PriceBook.load().version == CATALOG_VERSION


def test_shipped_catalog_covers_the_required_prices():
    book = PriceBook.load()
    have = {(r["cloud"], r["usage"], r["region"], r["instance_type"]) for r in book.rows()}
    need = {
        ("aws", usage, region, itype)
        for usage, types in AWS_REQUIRED.items()
        for itype in types
        for region in AWS_REGIONS
    }
    for usage in ("training", "prediction"):
        need |= {("gcp", usage, reg, m) for m in GCP_MACHINES for reg in GCP_REGIONS}
        need |= {("gcp", f"accelerator-{usage}", reg, g) for g in GCP_GPUS for reg in GCP_REGIONS}
    need |= {("databricks", w, "us-east-1", "premium") for w in prices.DBU_WORKLOADS}
    for node in DATABRICKS_NODES:
        need |= {("databricks", u, "us-east-1", node) for u in ("dbu-per-hour", "vm")}
    assert sorted(need - have) == []


def test_anchor_prices():
    book = PriceBook.load()
    aws = {
        ("training", "ml.m5.xlarge"): 0.23,
        ("hosting", "ml.m5.large"): 0.115,
        ("training", "ml.p3.2xlarge"): 3.825,
    }
    for (usage, itype), usd in aws.items():
        price = book.lookup(cloud="aws", usage=usage, instance_type=itype)
        assert price is not None and price.usd_per_hour == usd
        assert price.region == "us-east-1"
        assert price.source.startswith(f"prices.csv {CATALOG_VERSION}: AWS SageMaker pricing page")


def test_every_instance_type_the_seed_labs_use_is_priced_on_its_cloud():
    from labctl import catalog, cost

    unpriced = []
    for name, lab in catalog.load().labs.items():
        unpriced += [
            f"{name}: {u}" for u in cost.estimate(lab, lab.cloud, None, PriceBook.load()).unpriced
        ]
    assert unpriced == []


# --- lookups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "usage", "instance_type", "region"),
    [
        ("aws", "training", "ml.m5.xlarge", "ap-south-1"),
        ("aws", "training", "ml.x9.huge", None),
        ("gcp", "training", "n1-standard-4", "asia-east1"),
        ("gcp", "training", "n1-standard-4+NVIDIA_TESLA_T4x1", "asia-east1"),
        ("databricks", "jobs-compute", "i3.xlarge", "eu-west-1"),
        ("databricks", "model-serving", "small", "eu-west-1"),
        ("azure", "training", "Standard_D4s_v3", None),
    ],
)
def test_unknown_region_or_type_is_none_not_a_guess(cloud, usage, instance_type, region):
    book = PriceBook.load()
    assert book.lookup(cloud=cloud, usage=usage, instance_type=instance_type, region=region) is None


def test_region_defaults_per_cloud():
    book = PriceBook.load()
    p = book.lookup(cloud="gcp", usage="prediction", instance_type="n1-standard-4")
    assert p is not None and p.region == "us-central1"


def test_gcp_machine_plus_accelerators():
    book = PriceBook.load()
    rows = {
        (r["usage"], r["region"], r["instance_type"]): r["usd_per_hour"] for r in book.rows("gcp")
    }
    for region in GCP_REGIONS:
        p = book.lookup(
            cloud="gcp",
            usage="training",
            region=region,
            instance_type="n1-standard-8+NVIDIA_TESLA_T4x2",
        )
        machine = rows[("training", region, "n1-standard-8")]
        t4 = rows[("accelerator-training", region, "NVIDIA_TESLA_T4")]
        assert p is not None and p.usd_per_hour == pytest.approx(machine + 2 * t4)
        assert "2 x NVIDIA_TESLA_T4" in p.detail
    one = book.lookup(
        cloud="gcp", usage="prediction", instance_type="n1-standard-4+NVIDIA_TESLA_V100"
    )
    v100 = rows[("accelerator-prediction", "us-central1", "NVIDIA_TESLA_V100")]
    assert one is not None
    assert one.usd_per_hour == pytest.approx(
        rows[("prediction", "us-central1", "n1-standard-4")] + v100
    )
    spec = "n1-standard-16+NVIDIA_TESLA_T4x1+NVIDIA_TESLA_V100x2"
    mixed = book.lookup(cloud="gcp", usage="training", instance_type=spec)
    assert mixed is not None
    assert mixed.usd_per_hour == pytest.approx(
        rows[("training", "us-central1", "n1-standard-16")]
        + rows[("accelerator-training", "us-central1", "NVIDIA_TESLA_T4")]
        + 2 * rows[("accelerator-training", "us-central1", "NVIDIA_TESLA_V100")]
    )


def test_gcp_a2_includes_its_a100_and_unknown_accelerators_are_unpriced():
    book = PriceBook.load()
    a2 = book.lookup(cloud="gcp", usage="training", instance_type="a2-highgpu-1g")
    both = book.lookup(
        cloud="gcp", usage="training", instance_type="a2-highgpu-1g+NVIDIA_TESLA_A100x1"
    )
    assert a2 is not None and both is not None and a2.usd_per_hour == both.usd_per_hour
    assert (
        book.lookup(cloud="gcp", usage="training", instance_type="n1-standard-8+NVIDIA_H100x1")
        is None
    )
    assert (
        book.lookup(cloud="gcp", usage="training", instance_type="n1-standard-8+not a gpu") is None
    )


def test_databricks_combines_dbus_rate_and_vm():
    book = PriceBook.load()
    rows = {(r["usage"], r["instance_type"]): r["usd_per_hour"] for r in book.rows("databricks")}
    for workload in ("jobs-compute", "all-purpose"):
        for node in DATABRICKS_NODES:
            p = book.lookup(cloud="databricks", usage=workload, instance_type=node)
            dbu, rate, vm = (
                rows[("dbu-per-hour", node)],
                rows[(workload, "premium")],
                rows[("vm", node)],
            )
            assert p is not None and p.usd_per_hour == pytest.approx(dbu * rate + vm)
            assert p.detail == f"{dbu:g} DBU/h x ${rate:g} + VM ${vm:g}"
    p = book.lookup(cloud="databricks", usage="jobs-compute", instance_type="i3.xlarge")
    assert p is not None and p.usd_per_hour == pytest.approx(1 * 0.15 + 0.312)


def test_databricks_serving_sizes_have_no_vm():
    book = PriceBook.load()
    rows = {(r["usage"], r["instance_type"]): r["usd_per_hour"] for r in book.rows("databricks")}
    rate = rows[("model-serving", "premium")]
    for size in ("small", "medium", "large"):
        for name in (size, f"cpu-{size}", size.capitalize()):
            p = book.lookup(cloud="databricks", usage="model-serving", instance_type=name)
            assert p is not None
            assert p.usd_per_hour == pytest.approx(rows[("dbu-per-hour", f"serving-{size}")] * rate)
            assert "no VM" in p.detail
    assert book.lookup(cloud="databricks", usage="jobs-compute", instance_type="small") is None


def test_rows_filters_by_cloud_and_rejects_unknown_clouds():
    book = PriceBook.load()
    assert {r["cloud"] for r in book.rows("gcp")} == {"gcp"}
    assert len(book.rows()) == sum(len(book.rows(c)) for c in USAGES)
    with pytest.raises(UsageError, match="did you mean 'gcp'"):
        book.rows("gpc")


# --- loading ------------------------------------------------------------------------------------


def test_env_override_and_cache(tmp_path, monkeypatch):
    path = _write(
        tmp_path / "p.csv",
        [
            [
                "aws",
                "training",
                "us-east-1",
                "ml.m5.xlarge",
                "9.5",
                "hour",
                "test page",
                "2026-01-02",
            ],
        ],
    )
    monkeypatch.setenv("LABCTL_PRICES", str(path))
    book = PriceBook.load()
    assert PriceBook.load() is book
    p = book.lookup(cloud="aws", usage="training", instance_type="ml.m5.xlarge")
    assert p is not None and p.usd_per_hour == 9.5 and p.source == "p.csv 2026-01: test page"
    _write(
        path, [["aws", "training", "us-east-1", "ml.m5.xlarge", "1.25", "hour", "t", "2026-01-02"]]
    )
    p = PriceBook.load().lookup(cloud="aws", usage="training", instance_type="ml.m5.xlarge")
    assert p is not None and p.usd_per_hour == 1.25  # the cache notices the file changed


def test_missing_file_is_a_labctl_error(tmp_path):
    with pytest.raises(LabctlError, match="not found"):
        PriceBook.load(tmp_path / "nope.csv")


GOOD = ["gcp", "training", "us-central1", "n1-standard-4", "0.2", "hour", "page", "2026-11-01"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({4: "abc"}, "not a number"),
        ({4: "-1"}, "not a price"),
        ({0: "azure"}, "unknown cloud 'azure'"),
        ({1: "trainning"}, "did you mean 'training'"),
        ({5: "dbu"}, "unit 'dbu'"),
        ({6: ""}, "source is empty"),
        ({7: "11/01/2026"}, "not a YYYY-MM-DD date"),
        ({2: ""}, "region is empty"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, bad, message):
    row = list(GOOD)
    for i, value in bad.items():
        row[i] = value
    other = [*GOOD[:3], "n1-standard-8", *GOOD[4:]]
    path = _write(tmp_path / "bad.csv", [GOOD, other, row])
    with pytest.raises(LabctlError, match=message) as info:
        PriceBook.load(path)
    assert f"{path}:4:" in info.value.message


def test_missing_column_extra_field_and_duplicates(tmp_path):
    header = tuple(c for c in COLUMNS if c != "unit")
    path = _write(tmp_path / "a.csv", [GOOD[:5] + GOOD[6:]], header=header)
    with pytest.raises(LabctlError, match=r"a\.csv:1: missing column\(s\) unit"):
        PriceBook.load(path)
    path = _write(tmp_path / "b.csv", [GOOD, [*GOOD, "extra"]])
    with pytest.raises(LabctlError, match=r"b\.csv:3: expected 8 fields"):
        PriceBook.load(path)
    path = _write(tmp_path / "c.csv", [GOOD, GOOD])
    with pytest.raises(LabctlError, match=r"c\.csv:3: duplicate of line 2"):
        PriceBook.load(path)


# --- refresh from the AWS Price List API --------------------------------------------------------


def _product(usagetype: str, instance: str, component: str, region: str, usd: str) -> str:
    """A SageMaker product as the Price List API returns it (trimmed to the fields we read)."""
    sku = f"SKU{abs(hash((usagetype, region))) % 10**8:08d}"
    return json.dumps(
        {
            "product": {
                "productFamily": "ML Instance",
                "attributes": {
                    "regionCode": region,
                    "servicecode": "AmazonSageMaker",
                    "usagetype": usagetype,
                    "locationType": "AWS Region",
                    "location": "US East (N. Virginia)",
                    "servicename": "Amazon SageMaker",
                    "instanceName": instance,
                    "component": component,
                    "operation": "RunInstance",
                    "instanceType": f"{instance}-{component}",
                    "vCpu": "4",
                    "memory": "16 GiB",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonSageMaker",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${usd} per Hour for {component} on {instance}",
                                "appliesTo": [],
                                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-03T00:00:00Z",
        }
    )


@pytest.fixture
def pricing_client(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("pricing", region_name="us-east-1")


def test_refresh_aws_rewrites_aws_rows_and_keeps_the_rest(tmp_path, pricing_client):
    from botocore.stub import Stubber

    path = tmp_path / "prices.csv"
    path.write_bytes(SHIPPED.read_bytes())
    before = PriceBook.load(path)
    others = [r for r in before.rows() if r["cloud"] != "aws"]
    page = [
        _product(
            "USE1-Train:ml.m5.xlarge", "ml.m5.xlarge", "Training", "us-east-1", "0.2400000000"
        ),
        _product("USE1-Host:ml.m5.large", "ml.m5.large", "Hosting", "us-east-1", "0.1200000000"),
    ]
    studio = _product(
        "USE1-Studio:JupyterLab-ml.t3.medium",
        "ml.t3.medium",
        "studio-jupyterlab",
        "us-east-1",
        "0.05",
    )
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]
    expected = {
        "ServiceCode": "AmazonSageMaker",
        "Filters": filters,
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {"FormatVersion": "aws_v1", "PriceList": page[:1], "NextToken": "page-2"},
            expected,
        )
        stub.add_response(
            "get_products",
            {"FormatVersion": "aws_v1", "PriceList": [page[1], studio]},
            {**expected, "NextToken": "page-2"},
        )
        written = refresh_aws(path, regions=("us-east-1",), client=pricing_client)
        stub.assert_no_pending_responses()
    assert written == 2
    after = PriceBook.load(path)
    aws = [r for r in after.rows("aws") if r["usage"] not in prices.COMPONENT_USAGES]
    assert [(r["usage"], r["instance_type"], r["usd_per_hour"]) for r in aws] == [
        ("hosting", "ml.m5.large", 0.12),
        ("training", "ml.m5.xlarge", 0.24),
    ]
    assert all(r["source"] == "AWS Price List API" and r["as_of"] == "2026-11-03" for r in aws)
    # the components' rows (Kinesis, Glue, KMS...) are not SageMaker's: kept as they were
    components = [r for r in after.rows("aws") if r["usage"] in prices.COMPONENT_USAGES]
    shipped = [
        r for r in PriceBook.load(SHIPPED).rows("aws") if r["usage"] in prices.COMPONENT_USAGES
    ]
    assert components == shipped and components
    assert [r for r in after.rows() if r["cloud"] != "aws"] == others
    p = after.lookup(cloud="aws", usage="training", instance_type="ml.m5.xlarge")
    assert p is not None and p.usd_per_hour == 0.24
    assert p.source == "prices.csv 2026-11: AWS Price List API"


def test_refresh_aws_unreachable_keeps_the_file(tmp_path, pricing_client):
    from botocore.exceptions import EndpointConnectionError

    path = tmp_path / "prices.csv"
    path.write_bytes(SHIPPED.read_bytes())
    before = path.read_bytes()

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com/")

    pricing_client.get_products = unreachable
    with pytest.raises(LabctlError, match="could not reach the AWS Price List API") as info:
        refresh_aws(path, client=pricing_client)
    assert "the shipped catalog is kept" in info.value.message
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_refresh_aws_client_error_and_empty_answer_keep_the_file(tmp_path, pricing_client):
    from botocore.stub import Stubber

    path = tmp_path / "prices.csv"
    path.write_bytes(SHIPPED.read_bytes())
    before = path.read_bytes()
    with Stubber(pricing_client) as stub:
        stub.add_client_error("get_products", "AccessDeniedException", "not allowed")
        with pytest.raises(LabctlError, match="could not reach"):
            refresh_aws(path, regions=("us-east-1",), client=pricing_client)
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []})
        with pytest.raises(LabctlError, match="no SageMaker prices"):
            refresh_aws(path, regions=("us-east-1",), client=pricing_client)
    assert path.read_bytes() == before


def test_price_list_parser_reads_usage_types_and_components():
    products = [
        ("USW2-Tsform", "ml.c5.xlarge", "Batch Transform", "us-west-2", "0.2"),
        ("EU-Processing", "ml.m5.large", "Processing", "eu-west-1", "0.13"),
        ("USE1-Notebk", "ml.t3.medium", "Notebook Instance", "us-east-1", "0.05"),
        ("USE1-AsyncInf", "ml.g5.xlarge", "AsyncInference", "us-east-1", "1.4"),
        ("USE1-Host", "ml.m5.large", "Hosting", "ap-south-1", "0.1"),
        ("USE1-Host", "ml.m5.large", "Hosting", "us-east-1", "0"),
    ]
    price_list = [_product(f"{op}:{it}", it, c, region, usd) for op, it, c, region, usd in products]
    regions = {"us-east-1", "us-west-2", "eu-west-1"}
    rows = prices._aws_rows([*price_list, "not json"], regions, None, "2026-12-01")
    assert sorted(rows) == [
        ("batch-transform", "us-west-2", "ml.c5.xlarge"),
        ("notebook", "us-east-1", "ml.t3.medium"),
        ("processing", "eu-west-1", "ml.m5.large"),
    ]
