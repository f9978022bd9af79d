"""The `dataflow` step: labctl's Beam pipeline on the DirectRunner (local) and on Dataflow (gcp).

Locally the pipeline runs for real over a small generated sales table. On gcp the launch is
checked at the SDK level: Beam's own DataflowRunner receives the pipeline and its options
(its `run_pipeline` is patched, so nothing leaves the machine), and cancelling is checked at
the REST request level. The Beam tests skip when Apache Beam (`labctl[beam]`) is absent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud import storage
from test_gcp import INFRA as GCP_INFRA
from test_gcp import PROJECT, adc, cloud, labels_of, vertex  # noqa: F401 - fixtures

from labctl import catalog as catalog_mod
from labctl import datagen
from labctl.backends.base import Context
from labctl.backends.gcp import GcpBackend, pricing
from labctl.backends.gcp.dataflow import dataflow_args
from labctl.cost import estimate
from labctl.errors import BackendError
from labctl.ledger import Ledger
from labctl.prices import PriceBook
from labctl.progress import Reporter

REPO = Path(__file__).resolve().parents[1]
SA = GCP_INFRA["service_account_email"]
INFRA = {
    **GCP_INFRA,
    "pubsub_subscription": f"projects/{PROJECT}/subscriptions/labctl-ana-events-dataflow",
}


def make_ctx(tmp_path: Path, target: str, infra: dict[str, Any]) -> Context:
    cat = catalog_mod.load(REPO / "labs.yaml")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run(
        engineer="ana@example.com",
        lab="sales-forecasting",
        target=target,
        workspace=str(tmp_path),
        region="us-central1",
    )
    return Context(
        ledger=ledger,
        run=run,
        lab_name="sales-forecasting",
        lab=cat.lab("sales-forecasting"),
        workspace=tmp_path,
        infra=infra,
        prices=PriceBook.load(),
        reporter=Reporter(),
    )


# --- local: the DirectRunner ------------------------------------------------------------------


def test_local_direct_runner_end_to_end(tmp_path):
    pytest.importorskip("apache_beam", reason="needs labctl[beam]")
    from labctl.analogues.dataflow import dataflow

    ctx = make_ctx(tmp_path, "local", {"bucket": str(tmp_path / "bucket")})
    data = tmp_path / "data"
    datagen.generate("store-sales", rows=600, seed=3, out_dir=data, validation_fraction=0.2)
    ctx.results["store-sales-data"] = {"dir": str(data)}
    step = ctx.lab.step("streaming-features").model_copy(
        update={"settings": {"windows_minutes": [1440, 10080]}}
    )
    result = dataflow(step, ctx)
    assert result["runner"] == "DirectRunner"
    sales = pd.read_csv(data / "raw" / "train.csv", parse_dates=["date"])
    for minutes, freq in ((1440, "D"), (10080, None)):
        out = result["outputs"][f"{minutes}m"]
        rows = [json.loads(line) for line in Path(out["file"]).read_text().splitlines()]
        assert out["rows"] == len(rows) > 0
        assert out["file"].startswith(str(tmp_path / "bucket" / "dataflow" / step.name))
        assert {r["window_minutes"] for r in rows} == {minutes}
        # every event lands in exactly one window: the sums and counts add up per series
        got = pd.DataFrame(rows).groupby(["store_nbr", "family"])[["events", "sales_sum"]].sum()
        want = sales.groupby(["store_nbr", "family"])["sales"].agg(["count", "sum"])
        assert got["events"].tolist() == want["count"].tolist()
        assert got["sales_sum"].to_numpy() == pytest.approx(want["sum"].to_numpy(), rel=1e-6)
        if freq == "D":  # one row per series and day, starting at midnight UTC
            assert len(rows) == len(sales) and all(r["events"] == 1 for r in rows)
            assert all(r["window_start"].endswith("T00:00:00") for r in rows)
        else:  # weekly windows (the epoch's Thursdays): fewer rows, each the sum of its days
            assert len(rows) < len(sales)
            assert all(r["sales_mean"] == pytest.approx(r["sales_sum"] / r["events"]) for r in rows)


def test_local_bad_windows_are_refused(tmp_path):
    from labctl.analogues.dataflow import windows
    from labctl.errors import BackendError

    step = catalog_mod.load(REPO / "labs.yaml").lab("sales-forecasting").step("streaming-features")
    assert windows(step) == [60, 1440]
    with pytest.raises(BackendError, match="windows_minutes"):
        windows(step.model_copy(update={"settings": {"windows_minutes": [0]}}))


# --- gcp: the Dataflow launch, at the request level ---------------------------------------------


def test_dataflow_launch_request(tmp_path, vertex, cloud, monkeypatch):  # noqa: F811
    """A launcher CustomJob (as the lab's service account, labelled) submits the Beam module
    with Dataflow options; the job id it writes becomes the ledger row's provider id."""
    ctx = make_ctx(tmp_path, "gcp", dict(INFRA))
    now = datetime(2026, 12, 1, 15, 0)
    monkeypatch.setattr("labctl.backends.gcp.dataflow.utcnow", lambda: now)
    ctx.run = ctx.ledger.update_run(ctx.run.id, autostop_at=now + timedelta(hours=3))
    seen: dict[str, Any] = {}
    real_create = vertex.create_custom_job

    def create(request, **kw):
        seen["rows"] = [(r.kind, r.status) for r in ctx.ledger.open_resources(ctx.run.id)]
        return real_create(request, **kw)

    monkeypatch.setattr(vertex, "create_custom_job", create)

    def download(blob, **_):
        assert blob.name.endswith("/job.json")
        return json.dumps({"job_id": "2026-12-01_10_00_00-1234"}).encode()

    monkeypatch.setattr(storage.Blob, "download_as_bytes", download)
    backend = GcpBackend(sleep=lambda s: None, poll_seconds=0)
    step = ctx.lab.step("streaming-features")
    result = backend.run_step(step, ctx)

    # both ledger rows exist before the launcher is created
    assert sorted(seen["rows"]) == [("service", "creating"), ("training-job", "creating")]
    (request,) = vertex.requests["create_custom_job"]
    job = request.custom_job
    assert dict(job.labels) == labels_of(ctx)
    assert job.job_spec.service_account == INFRA["service_account_email"]
    (pool,) = job.job_spec.worker_pool_specs
    pkg = pool.python_package_spec
    assert pkg.python_module == "labctl.pipelines.beam_sales_features"
    assert pkg.package_uris[0].startswith(f"gs://{INFRA['bucket']}/code/labctl-beam-pipelines-")
    assert pkg.package_uris[0] in cloud.uploads
    args = list(pkg.args)
    assert args[0] == "dataflow" and f"--subscription={INFRA['pubsub_subscription']}" in args
    assert "--windows_minutes=60,1440" in args
    beam = args[args.index("--") + 1 :]
    assert "--runner=DataflowRunner" in beam and "--streaming" in beam
    assert f"--service_account_email={INFRA['service_account_email']}" in beam
    assert f"--staging_location=gs://{INFRA['bucket']}/dataflow/staging" in beam
    assert f"--temp_location=gs://{INFRA['bucket']}/dataflow/tmp" in beam
    assert f"--extra_package=/gcs/{pkg.package_uris[0].removeprefix('gs://')}" in beam
    assert "--machine_type=n1-standard-2" in beam and "--max_num_workers=2" in beam
    # the lab's deadline, enforced by Dataflow: the autostop set below, 3 h after the clock
    assert "--dataflow_service_options=max_workflow_runtime_walltime_seconds=10800" in beam
    assert sorted(a for a in beam if a.startswith("--labels=")) == sorted(
        f"--labels={k}={v}" for k, v in labels_of(ctx).items()
    )
    flow = next(r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "service")
    assert flow.provider_id == "2026-12-01_10_00_00-1234" and flow.status == "Running"
    per_worker = 2 * 0.069 + 7.5 * 0.003557 + 30 * 0.000054
    assert flow.price_per_hour == pytest.approx(per_worker, abs=1e-6) and flow.instance_count == 2
    assert result["table"] == f"{PROJECT}:{INFRA['bigquery_dataset']}.streaming_features"
    assert result["job_id"] == flow.provider_id


def test_dataflow_launcher_failure_names_the_step(tmp_path, vertex, cloud):  # noqa: F811
    ctx = make_ctx(tmp_path, "gcp", dict(INFRA))
    vertex.final_state = "JOB_STATE_FAILED"
    backend = GcpBackend(sleep=lambda s: None, poll_seconds=0)
    with pytest.raises(BackendError, match="streaming-features"):
        backend.run_step(ctx.lab.step("streaming-features"), ctx)
    assert not [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "service"]


def test_dataflow_args_parse_as_beam_options():
    pytest.importorskip("apache_beam", reason="needs labctl[beam]")
    from apache_beam.options.pipeline_options import PipelineOptions

    args = dataflow_args(project="p", region="europe-west4", job_name="j-1", service_account=SA,
                         bucket="b", labels={"labctl-lab": "x"}, machine_type="n1-standard-2",
                         max_workers=3, package="/tmp/p.tar.gz",
                         max_runtime_seconds=7200)  # fmt: skip
    options = PipelineOptions(args).get_all_options(retain_unknown_options=True)
    assert not [a for a in options if a.startswith("--")]  # no flag Beam does not know
    assert options["runner"] == "DataflowRunner" and options["labels"] == ["labctl-lab=x"]
    assert options["service_account_email"] == SA and options["max_num_workers"] == 3
    assert options["dataflow_service_options"] == ["max_workflow_runtime_walltime_seconds=7200"]


# --- gcp: down cancels the job, at the REST level ----------------------------------------------


class FakeSession:
    def __init__(self, states: list[str | None]) -> None:
        self.states = states
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, json: Any = None, timeout: float = 0) -> Any:
        self.calls.append((method, url, json))
        state = self.states.pop(0) if method == "GET" and len(self.states) > 1 else self.states[0]

        class Response:
            status_code = 404 if state is None else 200
            text = ""

            @staticmethod
            def json() -> dict[str, Any]:
                return {"id": "job-1", "currentState": state}

        return Response()


def test_down_cancels_the_job_and_waits(tmp_path, adc):  # noqa: F811
    ctx = make_ctx(tmp_path, "gcp", dict(INFRA))
    res = ctx.ledger.add_resource(
        ctx.run, kind="service", name="streaming-features-x", provider_id="job-1",
        attrs={"vertex": "dataflow-job", "service": "dataflow"},
    )  # fmt: skip
    backend = GcpBackend(sleep=lambda s: None, poll_seconds=0)
    session = FakeSession(["JOB_STATE_RUNNING", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"])
    backend._clients["dataflow"] = session
    assert backend.live_status(res) == "JOB_STATE_RUNNING"
    backend.teardown(res, ctx.ledger)
    url = (
        f"https://dataflow.googleapis.com/v1b3/projects/{PROJECT}/locations/us-central1/jobs/job-1"
    )
    puts = [c for c in session.calls if c[0] == "PUT"]
    assert puts == [("PUT", url, {"requestedState": "JOB_STATE_CANCELLED"})]
    assert session.calls[-1][0] == "GET"  # waited for the cancelled state
    backend._clients["dataflow"] = gone = FakeSession([None])
    backend.teardown(res, ctx.ledger)  # already gone is success
    assert [c[0] for c in gone.calls] == ["GET"]


# --- priced in plan -------------------------------------------------------------------------------


def test_plan_prices_dataflow_pipelines_and_monitoring():
    lab = catalog_mod.load(REPO / "labs.yaml").lab("sales-forecasting")
    e = estimate(lab, "gcp", "us-central1", PriceBook.load(), endpoint_hours=10)
    lines = {(line.step, line.instance_type): line for line in e.lines}
    flow = lines[("streaming-features", "n1-standard-2")]
    per_worker = 2 * 0.069 + 7.5 * 0.003557 + 30 * 0.000054
    assert flow.usd == pytest.approx(round(per_worker * 2 * 10, 4))
    assert lines[("weekly-retrain", "run")].usd == pytest.approx(0.03)  # no Monday in 10 h
    assert lines[("weekly-retrain", "n1-standard-8")].usd > 0
    assert lines[("forecast-monitor", "analysed-gb")].usd > 0
    assert not [u for u in e.unpriced if "forecast-monitor" in u or "streaming" in u]
    assert pricing.schedule_runs("0 6 * * 1", 24 * 14) == 2
    assert pricing.schedule_runs("0 2 * * *", 72) == 3
    assert pricing.machine_size("n1-standard-4") == (4, 15.0)


def test_without_beam_the_local_step_is_skipped_with_the_extra_named(tmp_path, monkeypatch):
    import sys

    from labctl.analogues.dataflow import dataflow
    from labctl.backends.local import backend as local_backend
    from labctl.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "labctl.pipelines.beam_sales_features", None)  # no Beam
    real = local_backend.has_module
    monkeypatch.setattr(local_backend, "has_module", lambda m: m != "apache_beam" and real(m))
    ctx = make_ctx(tmp_path, "local", {"bucket": str(tmp_path / "bucket")})
    step = ctx.lab.step("streaming-features")
    assert "labctl[beam]" in dataflow(step, ctx)["skipped"]
    with pytest.raises(MissingExtra, match="beam"):
        dataflow(step.model_copy(update={"optional": False}), ctx)
    findings = {f.step: f for f in local_backend.LocalBackend().check(ctx.lab)}
    flow = findings["streaming-features"]
    assert "labctl[beam]" in flow.reason and not flow.fatal
