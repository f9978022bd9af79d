"""The price catalog: what an hour of each cloud's ML compute costs, and where each number is from.

The catalog is a plain CSV, `labctl/data/prices.csv` (override with `$LABCTL_PRICES`), with the
columns `cloud,usage,region,instance_type,usd_per_hour,unit,source,as_of`. It has no comment or
version line; its version is `CATALOG_VERSION` below, the month of the newest `as_of`.

How to read a row:
- `unit` is `hour` (USD per instance-hour), `dbu` (USD per DBU) or `dbu/hour` (DBUs a Databricks
  node or serving size consumes per hour); `usd_per_hour` holds the number in that unit.
- aws usages: training, hosting (real-time inference), batch-transform, processing, notebook;
  and the components' `COMPONENT_USAGES` (Kinesis, Firehose per GB, Glue, endpoints, KMS...).
- gcp usages: training, prediction (machine types) and accelerator-training,
  accelerator-prediction (one GPU). An `a2-*` machine row already includes its A100s. dataflow
  (per streaming-vcpu / batch-vcpu hour, memory-gb and pd-gb hour), pipelines (per `run`) and
  model-monitoring (per `analysed-gb`): see labctl.backends.gcp.pricing.
- databricks usages: jobs-compute, all-purpose, model-serving, dlt-core|pro|advanced (Delta Live
  Tables by edition) (the DBU rate, `instance_type` is
  the platform tier, `premium`), dbu-per-hour (per node type, and `serving-small|medium|large` for
  serverless Model Serving sizes) and vm (the EC2 price under a node type).
- `source` names the public page; a figure not read off that page for its region says how it was
  derived. `as_of` is YYYY-MM-DD.

A region missing from the catalog is never guessed: `lookup` returns None and callers list the
step as unpriced.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from labctl import paths
from labctl.errors import LabctlError, MissingExtra, UsageError, did_you_mean

CATALOG_VERSION = "2026-11"
# aws usages of the Terraform components (labctl.components), not SageMaker's: `refresh_aws`
# keeps them. `instance_type` names what is priced (a shard, a stream, a G.1X worker, an
# interface endpoint in one AZ, a key...). All are per hour except firehose (USD per GB ingested).
COMPONENT_USAGES = ("kinesis-shard", "kinesis-on-demand", "firehose", "glue", "vpc-endpoint",
                    "nat-gateway", "kms", "opensearch", "msk", "elasticache", "managed-flink",
                    "waf", "efs", "cloudwatch-alarm", "secrets-manager", "ec2")  # fmt: skip
PER_GB = ("firehose", "efs")
# gcp usages not per hour (labctl.backends.gcp.pricing): Vertex AI Pipelines per run, Model
# Monitoring per GB analysed; `dataflow` rows are per vCPU-hour and GB-hour (`hour`)
GCP_UNITS = {"pipelines": "run", "model-monitoring": "gb"}
DEFAULT_REGION = {"aws": "us-east-1", "gcp": "us-central1", "databricks": "us-east-1"}
COLUMNS = ("cloud", "usage", "region", "instance_type", "usd_per_hour", "unit", "source", "as_of")
USAGES: dict[str, tuple[str, ...]] = {
    "aws": ("training", "hosting", "batch-transform", "processing", "notebook", *COMPONENT_USAGES),
    "gcp": ("training", "prediction", "accelerator-training", "accelerator-prediction",
            "dataflow", "pipelines", "model-monitoring"),
    "databricks": ("jobs-compute", "all-purpose", "model-serving", "dbu-per-hour", "vm",
                   "dlt-core", "dlt-pro", "dlt-advanced"),
}  # fmt: skip
DBU_WORKLOADS = ("jobs-compute", "all-purpose", "model-serving", "dlt-core", "dlt-pro",
                 "dlt-advanced")  # fmt: skip
DATABRICKS_TIER = "premium"  # the `instance_type` of the DBU-rate rows
SERVING_SIZES = ("small", "medium", "large")
BUNDLED_GPU = {"a2-": "NVIDIA_TESLA_A100"}  # machine families whose row already includes the GPU
AWS_SOURCE = "AWS Price List API"
AWS_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ACCELERATOR = re.compile(r"^([A-Z0-9_]+?)(?:x(\d+))?$")


def _unit_for(cloud: str, usage: str) -> str:
    if cloud == "gcp" and usage in GCP_UNITS:
        return GCP_UNITS[usage]
    if cloud == "aws" and usage in PER_GB:
        return "gb"
    if cloud == "databricks" and usage in DBU_WORKLOADS:
        return "dbu"
    if cloud == "databricks" and usage == "dbu-per-hour":
        return "dbu/hour"
    return "hour"


@dataclass(frozen=True)
class Price:
    """What one instance costs per hour, already combined (Databricks: DBUs x rate + VM)."""

    usd_per_hour: float
    source: str  # e.g. "prices.csv 2026-11: AWS SageMaker pricing page"
    region: str
    detail: str = ""  # e.g. "2 DBU/h x $0.15 + VM $0.312"


@dataclass(frozen=True)
class _Row:
    cloud: str
    usage: str
    region: str
    instance_type: str
    value: float
    unit: str
    source: str
    as_of: str
    line: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "usage": self.usage,
            "region": self.region,
            "instance_type": self.instance_type,
            "usd_per_hour": self.value,
            "unit": self.unit,
            "source": self.source,
            "as_of": self.as_of,
        }


_CACHE: dict[tuple[Path, int, int], PriceBook] = {}


def _money(value: float) -> str:
    return f"${value:g}"


class PriceBook:
    """The parsed price catalog; `load` it, then `lookup` a price or list its `rows`."""

    def __init__(self, rows: Iterable[_Row], path: Path) -> None:
        self.path = path
        self._rows = list(rows)
        self._index = {(r.cloud, r.usage, r.region, r.instance_type): r for r in self._rows}

    @classmethod
    def load(cls, path: Path | None = None) -> PriceBook:
        """The catalog at `path`, else `$LABCTL_PRICES`, else `labctl prices refresh`'s copy in
        `$LABCTL_HOME`, else the shipped one; cached per file."""
        if path is None:
            env = os.environ.get("LABCTL_PRICES")
            refreshed = refreshed_path()
            if env:
                path = Path(env).expanduser()
            else:
                path = refreshed if refreshed.is_file() else paths.data_file("prices.csv")
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:
            raise LabctlError(
                f"price catalog {path} not found",
                hint="unset LABCTL_PRICES to use the shipped catalog",
            ) from None
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
        if key not in _CACHE:
            _CACHE[key] = cls(_parse(path.read_text(encoding="utf-8"), path), path)
        return _CACHE[key]

    @property
    def version(self) -> str:
        """YYYY-MM of the newest `as_of` in this catalog."""
        return max((r.as_of for r in self._rows), default="")[:7]

    def rows(self, cloud: str | None = None) -> list[dict[str, Any]]:
        """Every row (of one cloud), in file order, as the CSV's columns."""
        if cloud is not None and cloud not in USAGES:
            raise UsageError(f"unknown cloud '{cloud}'{did_you_mean(cloud, USAGES)}")
        return [r.as_dict() for r in self._rows if cloud is None or r.cloud == cloud]

    def lookup(
        self, *, cloud: str, usage: str, instance_type: str, region: str | None = None
    ) -> Price | None:
        """The hourly price of one instance, or None when the catalog has no price for it."""
        region = region or DEFAULT_REGION.get(cloud, "")
        if cloud == "gcp" and usage in ("training", "prediction"):
            return self._gcp(usage, instance_type, region)
        if cloud == "databricks" and usage in DBU_WORKLOADS:
            return self._databricks(usage, instance_type, region)
        row = self._row(cloud, usage, region, instance_type)
        if row is None or row.unit != "hour":
            return None
        return Price(round(row.value, 6), self._source(row), region)

    # --- internals ------------------------------------------------------------------------------

    def _row(self, cloud: str, usage: str, region: str, instance_type: str) -> _Row | None:
        return self._index.get((cloud, usage, region, instance_type))

    def _source(self, *rows: _Row) -> str:
        sources = list(dict.fromkeys(r.source for r in rows))
        as_of = max(r.as_of for r in rows)[:7]
        return f"{self.path.name} {as_of}: " + "; ".join(sources)

    def _gcp(self, usage: str, instance_type: str, region: str) -> Price | None:
        """A machine type, optionally `+GPU_NAMExCOUNT` accelerators (`n1-standard-8+T4x1`)."""
        machine, *accelerators = instance_type.split("+")
        row = self._row("gcp", usage, region, machine)
        if row is None:
            return None
        rows, total, parts = [row], row.value, [f"{machine} {_money(row.value)}"]
        for spec in accelerators:
            match = _ACCELERATOR.match(spec.strip())
            if not match:
                return None
            name, count = match.group(1), int(match.group(2) or 1)
            if any(machine.startswith(f) and gpu == name for f, gpu in BUNDLED_GPU.items()):
                parts.append(f"{name} included in {machine}")
                continue
            acc = self._row("gcp", f"accelerator-{usage}", region, name)
            if acc is None or count < 1:
                return None
            rows.append(acc)
            total += acc.value * count
            parts.append(f"{count} x {name} {_money(acc.value)}")
        detail = " + ".join(parts) if accelerators else ""
        return Price(round(total, 6), self._source(*rows), region, detail)

    def _databricks(self, usage: str, instance_type: str, region: str) -> Price | None:
        """DBU/h of the node x the workload's DBU rate + the node's VM; serving sizes have no VM."""
        rate = self._row("databricks", usage, region, DATABRICKS_TIER)
        if rate is None:
            return None
        size = instance_type.lower().removeprefix("cpu-")
        if usage == "model-serving" and size in SERVING_SIZES:
            dbu = self._row("databricks", "dbu-per-hour", region, f"serving-{size}")
            if dbu is None:
                return None
            total = dbu.value * rate.value
            detail = f"{dbu.value:g} DBU/h x {_money(rate.value)} (serverless, no VM)"
            return Price(round(total, 6), self._source(dbu, rate), region, detail)
        dbu = self._row("databricks", "dbu-per-hour", region, instance_type)
        vm = self._row("databricks", "vm", region, instance_type)
        if dbu is None or vm is None:
            return None
        total = dbu.value * rate.value + vm.value
        detail = f"{dbu.value:g} DBU/h x {_money(rate.value)} + VM {_money(vm.value)}"
        return Price(round(total, 6), self._source(dbu, rate, vm), region, detail)


def _parse(text: str, path: Path) -> list[_Row]:
    """Rows of a catalog's text; a LabctlError naming file:line for anything malformed."""

    def fail(line: int, message: str) -> LabctlError:
        return LabctlError(f"{path}:{line}: {message}", hint="fix the row or unset LABCTL_PRICES")

    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        what = f"missing column(s) {', '.join(missing)}" if missing else f"columns {header}"
        raise fail(1, f"{what}; expected exactly {','.join(COLUMNS)}")
    rows: list[_Row] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for record in reader:
        line = reader.line_num
        if None in record or None in record.values():
            raise fail(line, f"expected {len(COLUMNS)} fields")
        cloud, usage = record["cloud"].strip(), record["usage"].strip()
        if cloud not in USAGES:
            raise fail(line, f"unknown cloud '{cloud}'{did_you_mean(cloud, USAGES)}")
        if usage not in USAGES[cloud]:
            hint = did_you_mean(usage, USAGES[cloud])
            raise fail(line, f"unknown {cloud} usage '{usage}'{hint}")
        try:
            value = float(record["usd_per_hour"])
        except ValueError:
            raise fail(line, f"usd_per_hour '{record['usd_per_hour']}' is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise fail(line, f"usd_per_hour {record['usd_per_hour']} is not a price")
        unit, expected_unit = record["unit"].strip(), _unit_for(cloud, usage)
        if unit != expected_unit:
            raise fail(line, f"unit '{unit}' for {cloud} {usage}; expected {expected_unit}")
        as_of = record["as_of"].strip()
        try:
            if not _DATE.match(as_of):
                raise ValueError
            date.fromisoformat(as_of)
        except ValueError:
            raise fail(line, f"as_of '{as_of}' is not a YYYY-MM-DD date") from None
        region, itype, source = (record[c].strip() for c in ("region", "instance_type", "source"))
        for name, text_value in (("region", region), ("instance_type", itype), ("source", source)):
            if not text_value:
                raise fail(line, f"{name} is empty")
        key = (cloud, usage, region, itype)
        if key in seen:
            raise fail(line, f"duplicate of line {seen[key]} ({' '.join(key)})")
        seen[key] = line
        rows.append(_Row(cloud, usage, region, itype, value, unit, source, as_of, line))
    return rows


def _write(path: Path, rows: Iterable[_Row]) -> None:
    """Write rows as a catalog atomically (a temp file in the same folder, then a rename)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        values = r.as_dict()
        values["usd_per_hour"] = format(r.value, ".10g")
        writer.writerow([values[c] for c in COLUMNS])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(out.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- AWS Price List API ---------------------------------------------------------------------------

# The operation part of a SageMaker usage type ("USE1-Train:ml.m5.xlarge") and the `component`
# attribute, mapped to the catalog's usages. Anything else (Studio, async, serverless) is skipped.
_AWS_OPERATIONS = {
    "Train": "training",
    "Host": "hosting",
    "Tsform": "batch-transform",
    "Processing": "processing",
    "Notebk": "notebook",
}
_AWS_COMPONENTS = {
    "training": "training",
    "hosting": "hosting",
    "batch transform": "batch-transform",
    "batchtransform": "batch-transform",
    "processing": "processing",
    "notebook instance": "notebook",
    "notebookinstance": "notebook",
}


def _aws_usage(attrs: dict[str, Any]) -> str | None:
    usagetype = str(attrs.get("usagetype") or "")
    if usagetype:
        operation = usagetype.split(":", 1)[0].split("-")
        if len(operation) > 2:  # e.g. a spot or studio variant
            return None
        return _AWS_OPERATIONS.get(operation[-1])
    return _AWS_COMPONENTS.get(str(attrs.get("component") or "").strip().lower())


def _aws_instance(attrs: dict[str, Any]) -> str:
    name = str(attrs.get("instanceName") or "")
    if not name and ":" in str(attrs.get("usagetype") or ""):
        name = str(attrs["usagetype"]).split(":", 1)[1]
    if not name:
        name = str(attrs.get("instanceType") or "").split("-", 1)[0]  # "ml.m5.xlarge-Training"
    return name if name.startswith("ml.") else ""


def _aws_hourly_usd(product: dict[str, Any]) -> float | None:
    for offer in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (offer.get("priceDimensions") or {}).values():
            if not str(dim.get("unit", "")).lower().startswith("hr"):
                continue
            try:
                usd = float(dim.get("pricePerUnit", {}).get("USD", ""))
            except ValueError:
                continue
            if usd > 0 and math.isfinite(usd):
                return usd
    return None


def _aws_rows(
    price_list: Iterable[str], regions: set[str], wanted: set[str] | None, today: str
) -> dict[tuple[str, str, str], _Row]:
    """Catalog rows from Price List JSON strings, keyed (usage, region, instance type)."""
    found: dict[tuple[str, str, str], _Row] = {}
    for text in price_list:
        try:
            product = json.loads(text) if isinstance(text, str) else dict(text)
            attrs = product["product"]["attributes"]
        except (ValueError, KeyError, TypeError):
            continue
        usage, itype = _aws_usage(attrs), _aws_instance(attrs)
        region = str(attrs.get("regionCode") or "")
        if not usage or not itype or region not in regions or (wanted and itype not in wanted):
            continue
        usd = _aws_hourly_usd(product)
        if usd is None or (usage, region, itype) in found:
            continue
        published = str(product.get("publicationDate") or "")[:10]
        as_of = published if _DATE.match(published) else today
        found[(usage, region, itype)] = _Row(
            "aws", usage, region, itype, usd, "hour", AWS_SOURCE, as_of, 0
        )
    return found


def refreshed_path() -> Path:
    """Where `labctl prices refresh` keeps its refreshed copy of the catalog."""
    return paths.home() / "prices.csv"


def refresh_aws(
    path: Path,
    *,
    regions: Iterable[str] = AWS_REGIONS,
    client: Any = None,
    instance_types: Iterable[str] | None = None,
) -> int:
    """Rebuild the catalog's AWS rows from the AWS Price List API; returns the AWS rows written.

    Only the instance types already in the catalog's AWS rows are kept (or `instance_types`).
    The gcp and databricks rows are kept as they are. The file is replaced atomically, and left
    untouched when the API cannot be reached or returns no usable SageMaker prices.
    """
    path = Path(path)
    book = PriceBook.load(path)
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise MissingExtra("aws", "boto3") from None
    regions = tuple(regions)
    if instance_types is None:
        wanted = {r["instance_type"] for r in book.rows("aws")}
    else:
        wanted = set(instance_types)
    kept = "the shipped catalog is kept"
    found: dict[tuple[str, str, str], _Row] = {}
    today = date.today().isoformat()
    try:
        if client is None:
            client = boto3.client("pricing", region_name="us-east-1")
        for region in regions:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "ServiceCode": "AmazonSageMaker",
                    "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
                    "FormatVersion": "aws_v1",
                    "MaxResults": 100,
                }
                if token:
                    kwargs["NextToken"] = token
                page = client.get_products(**kwargs)
                for key, row in _aws_rows(
                    page.get("PriceList", []), {region}, wanted or None, today
                ).items():
                    found.setdefault(key, row)
                token = page.get("NextToken")
                if not token:
                    break
    except (BotoCoreError, ClientError) as exc:
        raise LabctlError(
            f"could not reach the AWS Price List API ({type(exc).__name__}: {exc}); {kept}",
            hint="check network access and AWS credentials (pricing:GetProducts), then retry",
        ) from None
    if not found:
        raise LabctlError(f"the AWS Price List API returned no SageMaker prices; {kept}")
    aws_rows = [found[k] for k in sorted(found)]
    others = [r for r in book._rows if r.cloud != "aws" or r.usage in COMPONENT_USAGES]
    _write(path, [*aws_rows, *others])
    return len(aws_rows)
