"""The AWS labs' services on the local target: data-carrying analogues end to end on real files,
control-plane services skipped with non-fatal findings, and the three governance/streaming labs
planned (and two brought up) without a refusal."""

from __future__ import annotations

import csv
import gzip
import http.server
import json
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from labctl import catalog, datagen
from labctl.analogues import aws
from labctl.backends.local import LocalBackend
from labctl.backends.local.services import ANALOGUES, SKIPPED_LOCALLY, analogue
from labctl.catalog import ServiceStep

REPO = Path(__file__).resolve().parents[1]
CATALOG = catalog.load(REPO / "labs.yaml")
ENV = {"LABCTL_CATALOG": str(REPO / "labs.yaml")}

# steps of the three labs the local target still cannot run: they need PyTorch
# (the torchlocal branch adds the `iot-sensor-telemetry` generator and `sensor_anomaly`)
NEEDS_TORCH = {"streaming-edge-ml": {"telemetry-data", "train-anomaly"}}


def _ctx(tmp_path: Path, lab: str, data_step: str, rows: int = 300) -> SimpleNamespace:
    """What the analogues read from a Context: the lab, its workspace and the data step's result."""
    spec = CATALOG.lab(lab)
    step = spec.step(data_step)
    out = tmp_path / "bucket" / "data" / step.name
    schema = datagen.generate(step.generator, rows=rows, seed=7, out_dir=out)
    return SimpleNamespace(
        lab=spec,
        workspace=tmp_path,
        infra={"bucket": str(tmp_path / "bucket")},
        results={step.name: {"dir": str(out), "rows": rows, "schema": schema}},
    )


def _step(name: str, service: str, **settings) -> ServiceStep:
    return ServiceStep(name=name, kind="service", service=service, settings=settings)


def _run(ctx: SimpleNamespace, step: ServiceStep) -> dict:
    result = analogue(step.service)(step=step, ctx=ctx)
    ctx.results[step.name] = result
    json.dumps(result)  # a step result is stored in the ledger: JSON only
    return result


def test_every_analogue_is_registered_and_no_service_is_both() -> None:
    for service in aws.SERVICES:
        assert ANALOGUES[service] == "labctl.analogues.aws"
        assert analogue(service) is aws.SERVICES[service]
    assert not set(SKIPPED_LOCALLY) & set(ANALOGUES)


def test_stream_replays_the_data_rows(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "churn-pipeline", "churn-data")
    result = _run(ctx, _step("stream", "kinesis-data-streams", stream_mode="ON_DEMAND"))

    lines = Path(result["stream"]).read_text().splitlines()
    assert result["rows"] == len(lines) == 300
    with (tmp_path / "bucket/data/churn-data/raw/telco-churn.csv").open() as fh:
        raw = list(csv.DictReader(fh))
    first = json.loads(lines[0])
    assert result["partition_key"] == "customerID"  # the first column, unless set
    assert first["partition_key"] == raw[0]["customerID"]
    assert first["data"]["customerID"] == raw[0]["customerID"]
    assert [json.loads(x)["sequence_number"] for x in lines] == sorted(
        json.loads(x)["sequence_number"] for x in lines
    )


def test_firehose_batches_the_stream_into_the_bucket_gzipped(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "churn-pipeline", "churn-data")
    stream = _run(ctx, _step("stream", "kinesis-data-streams"))
    step = _step("ingest", "kinesis-firehose", s3_prefix="raw/events/", buffer_mb=0.02)
    step.settings["compression"] = "GZIP"
    result = _run(ctx, step)

    assert result["source"] == stream["stream"]
    objects = sorted((tmp_path / "bucket/raw/events").iterdir())
    assert len(objects) == result["objects"] > 1  # 20 kB buffers: several objects
    assert all(o.name.endswith(".jsonl.gz") for o in objects)
    rows = [json.loads(x) for o in objects for x in gzip.decompress(o.read_bytes()).splitlines()]
    assert len(rows) == result["rows"] == 300
    assert all(len(gzip.decompress(o.read_bytes())) <= 0.02 * 1024 * 1024 for o in objects)


def test_firehose_without_a_stream_takes_direct_puts_as_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    ctx = _ctx(tmp_path, "churn-pipeline", "churn-data")
    result = _run(ctx, _step("archive", "kinesis-firehose", s3_prefix="raw/t/", format="parquet"))

    assert result["format"] == "parquet" and result["objects"] == 1
    frame = pd.read_parquet(result["files"][0])
    assert len(frame) == 300 and "Churn" in frame.columns


def test_glue_turns_firehose_objects_into_training_channels(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    ctx = _ctx(tmp_path, "churn-pipeline", "churn-data")
    _run(ctx, _step("ingest", "kinesis-firehose", s3_prefix="raw/e/", compression="GZIP"))
    result = _run(ctx, _step("etl", "glue-etl", output_format="parquet"))

    assert result["source"] == str(tmp_path / "bucket/raw/e")
    assert result["dropped_columns"] == ["customerID"]
    train = pd.read_parquet(result["files"]["train"])
    validation = pd.read_parquet(result["files"]["validation"])
    assert len(train) + len(validation) == result["rows_in"] == 300
    assert len(validation) == 60
    assert train.columns[0] == "Churn" and set(train["Churn"]) == {0, 1}
    assert train.select_dtypes("number").shape[1] == train.shape[1]  # all numeric
    assert "Contract_Two year" in train.columns


def test_glue_without_firehose_reads_the_raw_csv_and_writes_csv(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "secure-ml-pipeline", "customer-records")
    result = _run(ctx, _step("etl", "glue-etl", output_format="csv"))

    assert result["source"] == "data step raw CSV" and result["format"] == "csv"
    train = pd.read_csv(result["files"]["train"])
    # personal identifiers never reach the channels
    assert {"customer_id", "email", "phone", "tax_id", "full_name"} <= set(
        result["dropped_columns"]
    )
    assert not {"email", "tax_id"} & set(train.columns)
    assert train.columns[0] == "churned"


def test_dynamodb_is_a_sqlite_table_keyed_by_the_partition_key(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "enterprise-ml-platform", "loan-data")
    result = _run(ctx, _step("loans", "dynamodb", partition_key="application_id"))

    assert result["rows"] == 300
    item = aws.get_item(result["database"], result["table"], "L0000042")
    assert item is not None and item["application_id"] == "L0000042"
    assert aws.get_item(result["database"], result["table"], "missing") is None
    with sqlite3.connect(result["database"]) as db:
        (pk,) = [r for r in db.execute(f'PRAGMA table_info("{result["table"]}")') if r[5]]
    assert pk[1] == "pk"
    # a table without the key column keys its items by row number (the documents' doc_id)
    ctx2 = _ctx(tmp_path / "nlp", "churn-pipeline", "churn-data", rows=50)
    docs = _run(ctx2, _step("docs", "dynamodb", partition_key="doc_id"))
    assert docs["rows"] == 50
    assert aws.get_item(docs["database"], "docs", "doc-0000000")["doc_id"] == "doc-0000000"
    # put-item semantics: a key written again replaces the item (2 tenants -> 2 items, the last)
    tenants = _run(ctx, _step("tenants", "dynamodb", partition_key="tenant_id"))
    assert tenants["rows"] == 2
    raw = pd.read_csv(tmp_path / "bucket/data/loan-data/raw/loan-applications.csv")
    last = raw[raw["tenant_id"] == "team-b"].iloc[-1]
    item = aws.get_item(tenants["database"], "tenants", "team-b")
    assert item["application_id"] == last["application_id"]


def test_api_without_an_endpoint_before_it_is_skipped(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "churn-pipeline", "churn-data")
    result = _run(ctx, _step("api", "api-gateway", caching=True))
    assert result["skipped"].startswith("no endpoint deployed before 'api'")


def test_control_plane_services_are_non_fatal_and_skipped() -> None:
    backend = LocalBackend()
    for lab in ("secure-ml-pipeline", "enterprise-ml-platform"):
        spec = CATALOG.lab(lab)
        findings = backend.check(spec)
        assert not [f for f in findings if f.fatal], findings
        skipped = {f.step for f in findings if "skipped locally" in f.reason}
        services = {s.name for s in spec.steps if isinstance(s, ServiceStep)}
        assert services - skipped == set()  # every service step of these labs is control plane
    ctx = SimpleNamespace(reporter=None)
    result = backend.service(step=_step("keys", "kms", keys=["data"]), ctx=ctx)
    assert result["skipped"].startswith("'kms' is skipped locally")


LABS = ["secure-ml-pipeline", "enterprise-ml-platform", "streaming-edge-ml"]


@pytest.mark.parametrize("lab", LABS)
def test_plan_local_is_fatal_only_for_steps_that_need_pytorch(cli, lab: str) -> None:
    result = cli("plan", lab, "--target", "local", "--json", env=ENV)
    plan = json.loads(result.stdout)
    fatal = {f["step"] for f in plan["findings"] if f["fatal"]}
    assert fatal <= NEEDS_TORCH.get(lab, set()), plan["findings"]
    if not fatal:
        assert result.code == 0 and plan["refused"] is None


@pytest.mark.local
def test_secure_ml_pipeline_comes_up_locally(cli) -> None:
    up = cli("up", "secure-ml-pipeline", "--target", "local", "--rows", "500", "--json", env=ENV)
    try:
        assert up.code == 0, up.stderr[-3000:]
        steps = up.json()["steps"]
        assert steps["kms-keys"]["skipped"].startswith("'kms' is skipped locally")
        assert steps["train-xgboost"]["metrics"]
        assert steps["endpoint"]
    finally:
        assert cli("down", "secure-ml-pipeline", "--yes", env=ENV).code == 0


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _serve(server) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def _post(url: str, body: bytes) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/csv"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers["X-Cache"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["X-Cache"]


def test_local_api_forwards_throttles_and_caches() -> None:
    calls: list[bytes] = []

    class Model(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(body)
            out = b"0.5" if self.path == "/invocations" else b"wrong path"
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    model = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Model)
    clock = _Clock()
    api = aws.make_api(_serve(model), "prod", throttle_rps=2, cache_ttl=30, clock=clock)
    url = _serve(api)
    try:
        assert _post(f"{url}/prod/predict", b"1,2") == (200, b"0.5", "Miss")
        assert _post(f"{url}/prod/predict", b"1,2") == (200, b"0.5", "Hit")  # cached
        assert _post(f"{url}/prod/predict", b"3,4") == (200, b"0.5", "Miss")
        assert _post(f"{url}/prod/predict", b"5,6")[0] == 429  # 2 a second, both spent
        clock.now += 1.0
        assert _post(f"{url}/prod/predict", b"5,6")[0] == 200
        clock.now += 31.0  # the cached answer expired
        assert _post(f"{url}/prod/predict", b"1,2")[2] == "Miss"
        assert _post(f"{url}/other", b"1,2")[0] == 404
        assert calls == [b"1,2", b"3,4", b"5,6", b"1,2"]
    finally:
        api.shutdown()
        model.shutdown()


@pytest.mark.local
def test_document_classification_api_fronts_the_endpoint_until_down(cli) -> None:
    up = cli("up", "document-classification", "--target", "local", "--rows", "500",
             "--trials", "1", "--json", env=ENV)  # fmt: skip
    try:
        assert up.code == 0, up.stderr[-3000:]
        steps = up.json()["steps"]
        assert steps["document-metadata"]["rows"] == 500
        api = steps["classify-api"]
        request = urllib.request.Request(
            api["url"],
            data=b'{"instances": ["space rocket orbit launch"]}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "__label__" in response.read().decode()
        (run,) = cli("status", "--json").json()
        (res,) = [r for r in run["resources"] if r["kind"] == "service"]
        assert res["status"] == "InService"
    finally:
        assert cli("down", "document-classification", "--yes", env=ENV).code == 0
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(api["url"], data=b"{}", timeout=5)


@pytest.mark.parametrize(
    ("name", "personal", "label", "rate"),
    [
        ("customer-records-pii", {"full_name", "email", "phone", "tax_id"}, "churned", 0.15),
        ("loan-applications", {"applicant_email"}, "default", 0.2),
    ],
)
def test_governance_generators_keep_personal_data_out_of_the_channels(
    tmp_path: Path, name: str, personal: set[str], label: str, rate: float
) -> None:
    schema = datagen.generate(name, rows=2000, seed=3, out_dir=tmp_path / "a")
    again = datagen.generate(name, rows=2000, seed=3, out_dir=tmp_path / "b")
    assert schema == again
    raw = pd.read_csv(tmp_path / "a" / schema["files"]["raw"])
    assert personal <= set(raw.columns) and raw.columns[-1] == label
    assert not personal & set(schema["features"])
    assert abs(schema["positive_rate"] - rate) < 0.05
    train = (tmp_path / "a" / schema["files"]["train"]).read_text()
    assert train == (tmp_path / "b" / schema["files"]["train"]).read_text()
    assert "@" not in train and set(train.splitlines()[0].split(",")[0]) <= {"0", "1"}
    assert schema["train_rows"] + schema["validation_rows"] == 2000
