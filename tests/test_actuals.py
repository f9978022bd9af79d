"""Billed actuals: each cloud's billing query, `cost sync`, and the report merging bills with
estimates, against hand-computed figures.

AWS: Cost Explorer in moto (ThreadedMotoServer, results queued through moto's API).
GCP: the BigQuery client patched; the SQL and its QueryJobConfig parameters are asserted and rows
fed back. Databricks: the Statement Execution REST API stubbed with requests-mock.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date, datetime, timedelta
from unittest import mock

import pytest

from labctl import actuals, cost, spend_report
from labctl.actuals import BilledRecord
from labctl.errors import BackendError, CatalogError, UsageError
from labctl.ledger import Ledger

NOW = datetime(2026, 11, 20, 12, 0)  # settle_days 1: the bill covers Nov 1-18
NOV1, NOV19 = date(2026, 11, 1), date(2026, 11, 19)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _team(tmp_path, monkeypatch, extra: str = "") -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        "team:\n  monthly_budget_usd: 300\n  engineers:\n"
        "    ana@example.com: {monthly_budget_usd: 70}\n"
        "    carol@example.com: {monthly_budget_usd: 50}\n" + extra
    )
    monkeypatch.setenv("LABCTL_TEAM", str(team))


@pytest.fixture
def ledger(db, tmp_path, monkeypatch):
    """ana: an aws endpoint at $1/h open since Nov 18 00:00 (60 h by NOW) and a closed $4 aws
    training job on Nov 5; bob: a $6 gcp job on Nov 19. Estimates: ana $64, bob $6."""
    _team(tmp_path, monkeypatch)
    led = Ledger(clock=lambda: NOW)

    def add(engineer, lab, target, kind, price, start, stop=None):
        run = led.start_run(engineer=engineer, lab=lab, target=target, workspace="/w")
        res = led.add_resource(run, kind=kind, name=kind, price_per_hour=price)
        led.update_resource(res.id, started_at=at(start))
        if stop:
            led.close_resource(res.id, stopped_at=at(stop))

    add("ana@example.com", "churn-pipeline", "aws", "endpoint", 1.0, "2026-11-18T00:00")
    add("ana@example.com", "fraud-detection", "aws", "training-job", 2.0, "2026-11-05T00:00",
        "2026-11-05T02:00")  # fmt: skip
    add("bob@example.com", "vertex-tabular", "gcp", "training-job", 3.0, "2026-11-19T10:00",
        "2026-11-19T12:00")  # fmt: skip
    return led


# --- AWS: Cost Explorer in moto ----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _post(f"{moto_url}/moto-api/reset", {})
    return moto_url


def _post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 201)


def _day(day: str, *groups: tuple[str, str, str]) -> dict:
    nxt = date.fromordinal(date.fromisoformat(day).toordinal() + 1).isoformat()
    return {
        "TimePeriod": {"Start": day, "End": nxt},
        "Total": {},
        "Groups": [
            {
                "Keys": [f"labctl-engineer${e}", f"labctl-lab${lab}"],
                "Metrics": {"UnblendedCost": {"Amount": usd, "Unit": "USD"}},
            }
            for e, lab, usd in groups
        ],
        "Estimated": False,
    }


def queue_bill(moto_url: str) -> None:
    """Two pages: Nov 5 and 12 with a NextPageToken, then Nov 18 (with untagged cost)."""
    pages = [
        {"ResultsByTime": [_day("2026-11-05", ("ana-example-com", "fraud-detection", "4.5")),
                           _day("2026-11-12", ("carol-example-com", "", "2.0"))],
         "NextPageToken": "page-2", "DimensionValueAttributes": []},
        {"ResultsByTime": [_day("2026-11-18", ("ana-example-com", "churn-pipeline", "30.0"),
                                ("", "", "100.0"))],
         "DimensionValueAttributes": []},
    ]  # fmt: skip
    _post(f"{moto_url}/moto-api/static/ce/cost-and-usage-results", {"results": pages})


def test_cost_explorer_pages_are_read_as_daily_tagged_records(aws):
    from labctl.backends.aws import billing as aws_billing

    queue_bill(aws)
    records = aws_billing.billed_costs(NOV1, NOV19)
    assert [(r.day.day, r.engineer_tag, r.lab_tag, r.amount_usd) for r in records] == [
        (5, "ana-example-com", "fraud-detection", 4.5),
        (12, "carol-example-com", "", 2.0),
        (18, "ana-example-com", "churn-pipeline", 30.0),
        (18, "", "", 100.0),
    ]
    params = aws_billing.request(NOV1, NOV19)
    assert params["TimePeriod"] == {"Start": "2026-11-01", "End": "2026-11-19"}
    assert params["GroupBy"] == [{"Type": "TAG", "Key": "labctl-engineer"},
                                 {"Type": "TAG", "Key": "labctl-lab"}]  # fmt: skip


def test_sync_then_report_uses_the_bill_for_covered_days(aws, ledger):
    before = {e["engineer"]: e for e in spend_report.report(ledger, None, now=NOW)["engineers"]}
    assert before["ana@example.com"]["spent_usd"] == pytest.approx(64.0)
    assert before["ana@example.com"]["level"] == "75"  # 91% of $70

    queue_bill(aws)
    team = cost.team(None)
    (res,) = actuals.sync(ledger, team, now=NOW, targets=["aws"])
    assert res.status == "ok" and res.rows == 3  # the untagged $100 is nobody's
    assert res.total_usd == pytest.approx(36.5)
    assert res.by_engineer == {"ana@example.com": 34.5, "carol@example.com": 2.0}
    assert res.to_dict()["billed_through"] == "2026-11-18"

    rep = spend_report.report(ledger, None, now=NOW)
    by = {e["engineer"]: e for e in rep["engineers"]}
    ana = by["ana@example.com"]
    # billed Nov 1-18: 4.5 + 30; estimated from Nov 19 00:00: the endpoint's 36 h at $1
    assert ana["spent_actual_usd"] == pytest.approx(34.5)
    assert ana["spent_estimated_usd"] == pytest.approx(36.0)
    assert ana["running_usd"] == pytest.approx(36.0) and ana["closed_usd"] == 0
    assert ana["spent_usd"] == pytest.approx(70.5)
    assert ana["percent"] == pytest.approx(100.71) and ana["level"] == "100"
    assert ana["forecast_usd"] == pytest.approx(70.5 + 1.0 * 252)
    labs = {(lab["lab"], lab["target"]): lab for lab in ana["labs"]}
    assert labs["churn-pipeline", "aws"]["spent_usd"] == pytest.approx(66.0)
    assert labs["churn-pipeline", "aws"]["spent_actual_usd"] == pytest.approx(30.0)
    assert labs["fraud-detection", "aws"]["spent_usd"] == pytest.approx(4.5)  # bill, not $4
    assert by["bob@example.com"]["spent_usd"] == pytest.approx(6.0)  # gcp: not synced
    assert by["bob@example.com"]["spent_actual_usd"] == 0
    assert by["carol@example.com"]["spent_usd"] == pytest.approx(2.0)  # billed, not in ledger
    assert rep["billed_through"] == {"aws": "2026-11-18"}
    assert rep["total_spent_usd"] == pytest.approx(70.5 + 6.0 + 2.0)

    # the budget check sees the same combined figure
    assert spend_report.spent_this_month(ledger, "ana@example.com", NOW) == pytest.approx(70.5)
    check = cost.check_budget(ledger, None, "bob@example.com", 1.0, now=NOW)
    assert check.spent_usd == pytest.approx(6.0)

    # re-syncing the same bill replaces, never adds
    again = actuals.sync(ledger, team, now=NOW, targets=["aws"])
    assert again[0].rows == 3
    assert spend_report.report(ledger, None, now=NOW)["total_spent_usd"] == pytest.approx(78.5)


def test_resync_replaces_a_changed_bill_and_dry_run_writes_nothing(ledger, monkeypatch):
    bills = iter([
        [BilledRecord(date(2026, 11, 5), "ana-example-com", "fraud-detection", 4.0, "USD", 4.0,
                      "t"),
         BilledRecord(date(2026, 11, 5), "ana-example-com", "fraud-detection", 1.0, "USD", 1.0,
                      "t")],  # two lines for one key: summed
        [BilledRecord(date(2026, 11, 5), "ana-example-com", "fraud-detection", 3.0, "USD", 3.0,
                      "t")],
        [BilledRecord(date(2026, 11, 6), "ana-example-com", "", 99.0, "USD", 99.0, "t")],
    ])  # fmt: skip
    monkeypatch.setattr(actuals, "fetch", lambda *a, **k: next(bills))
    team = cost.team(None)
    assert actuals.sync(ledger, team, now=NOW, targets=["aws"])[0].total_usd == 5.0
    assert actuals.sync(ledger, team, now=NOW, targets=["aws"])[0].total_usd == 3.0
    dry = actuals.sync(ledger, team, now=NOW, targets=["aws"], dry_run=True)[0]
    assert dry.status == "dry-run" and dry.records[0]["amount_usd"] == 99.0
    ana = spend_report.report(ledger, None, now=NOW, engineer="ana@example.com")["engineers"][0]
    assert ana["spent_actual_usd"] == pytest.approx(3.0)  # the second bill, not the dry run's


def test_default_targets_missing_settings_and_too_early(ledger):
    team = cost.team(None)
    # the ledger has aws and gcp runs in November; gcp has no export table configured
    real = actuals.fetch
    with mock.patch.object(actuals, "fetch", lambda t, *a: [] if t == "aws" else real(t, *a)):
        results = actuals.sync(ledger, team, now=NOW)
    assert [(r.target, r.status) for r in results] == [("aws", "ok"), ("gcp", "error")]
    assert "no BigQuery billing export table" in results[1].error
    assert "gcp_export_table" in results[1].hint
    early = actuals.sync(ledger, team, now=datetime(2026, 11, 1, 9), targets=["aws"])
    assert early[0].status == "nothing-to-sync"
    # an empty aws bill still covers Nov 1-18: the $4 training job estimate is replaced by $0
    ana = spend_report.report(ledger, None, now=NOW, engineer="ana@example.com")["engineers"][0]
    assert ana["spent_usd"] == pytest.approx(36.0)


# --- GCP: the BigQuery export query -------------------------------------------------------------

TABLE = "my-billing.billing_ds.gcp_billing_export_v1_01AB23_45CD67_89EF01"


def test_bigquery_query_is_parameterised_and_rows_become_usd_records():
    from google.cloud import bigquery

    from labctl.backends.gcp import billing as gcp_billing

    rows = [
        {"day": date(2026, 11, 3), "engineer": "bob-example-com", "lab": "vertex-tabular",
         "currency": "EUR", "cost": 9.2, "cost_usd": 10.0},
        {"day": date(2026, 11, 4), "engineer": "bob-example-com", "lab": "", "currency": "USD",
         "cost": 1.25, "cost_usd": 1.25},
    ]  # fmt: skip
    with mock.patch.object(bigquery, "Client") as client_cls:
        client_cls.return_value.query.return_value.result.return_value = rows
        records = gcp_billing.billed_costs(NOV1, NOV19, table=TABLE)
    client_cls.assert_called_once_with(project="my-billing")
    sql = client_cls.return_value.query.call_args.args[0]
    config = client_cls.return_value.query.call_args.kwargs["job_config"]
    assert f"FROM `{TABLE}`" in sql
    assert "2026" not in sql and "labctl-engineer" not in sql  # values are parameters only
    for needle in ("DATE(_PARTITIONTIME) >= @start", "usage_start_time < TIMESTAMP(@end)",
                   "UNNEST(labels)", "l.key = @engineer_label", "cost / currency_conversion_rate",
                   "GROUP BY day, engineer, lab, currency"):  # fmt: skip
        assert needle in sql
    params = {p.name: (p.type_, p.value) for p in config.query_parameters}
    assert params == {"start": ("DATE", NOV1), "end": ("DATE", NOV19),
                      "engineer_label": ("STRING", "labctl-engineer"),
                      "lab_label": ("STRING", "labctl-lab")}  # fmt: skip
    assert [(r.engineer_tag, r.lab_tag, r.amount, r.currency, r.amount_usd) for r in records] == [
        ("bob-example-com", "vertex-tabular", 9.2, "EUR", 10.0),
        ("bob-example-com", "", 1.25, "USD", 1.25),
    ]


def test_bigquery_table_id_is_validated(tmp_path, monkeypatch, home):
    from labctl.backends.gcp import billing as gcp_billing

    with pytest.raises(UsageError):
        gcp_billing.query("proj.ds.t` WHERE 1=1 --", NOV1, NOV19)
    _team(tmp_path, monkeypatch, "  billing: {gcp_export_table: 'x.y'}\n")
    with pytest.raises(CatalogError, match=r"billing\.gcp_export_table"):
        cost.team(None)


def test_gcp_sync_converts_to_usd_and_maps_labels_to_ledger_names(ledger, tmp_path, monkeypatch):
    from google.cloud import bigquery

    _team(tmp_path, monkeypatch, f"  billing: {{gcp_export_table: {TABLE}}}\n")
    rows = [{"day": date(2026, 11, 3), "engineer": "bob-example-com", "lab": "vertex-tabular",
             "currency": "EUR", "cost": 9.2, "cost_usd": 10.0}]  # fmt: skip
    with mock.patch.object(bigquery, "Client") as client_cls:
        client_cls.return_value.query.return_value.result.return_value = rows
        (res,) = actuals.sync(ledger, cost.team(None), now=NOW, targets=["gcp"])
    assert res.status == "ok" and res.source == f"gcp-bq:{TABLE}"
    assert res.by_engineer == {"bob@example.com": 10.0}
    bob = spend_report.report(ledger, None, now=NOW, engineer="bob@example.com")["engineers"][0]
    # billed $10 for Nov 1-18, then the $6 job on Nov 19 is still an estimate
    assert bob["spent_actual_usd"] == pytest.approx(10.0)
    assert bob["spent_usd"] == pytest.approx(16.0)


# --- Databricks: Statement Execution API over HTTP ----------------------------------------------

STATEMENTS = "http://localhost/api/2.0/sql/statements"


@pytest.fixture
def workspace():
    import requests_mock
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    with requests_mock.Mocker() as m:
        m.get("http://localhost/.well-known/databricks-config", status_code=404)
        yield m, WorkspaceClient(config=Config(host="http://localhost", token="x"))


def test_databricks_query_polls_and_reads_every_chunk(workspace, monkeypatch):
    from labctl.backends.databricks import billing as databricks_billing

    monkeypatch.setattr(databricks_billing, "POLL_SECONDS", 0)
    m, w = workspace
    m.post(STATEMENTS, json={"statement_id": "s1", "status": {"state": "PENDING"}})
    m.get(f"{STATEMENTS}/s1", json={
        "statement_id": "s1", "status": {"state": "SUCCEEDED"},
        "manifest": {"total_chunk_count": 2},
        "result": {"chunk_index": 0, "next_chunk_index": 1,
                   "data_array": [["2026-11-03", "dora-example-com", "feature-store", "USD",
                                   "3.300000"]]},
    })  # fmt: skip
    second = [["2026-11-04", "dora-example-com", "", "USD", "0.7"]]
    m.get(f"{STATEMENTS}/s1/result/chunks/1", json={"chunk_index": 1, "data_array": second})
    records = databricks_billing.billed_costs(NOV1, NOV19, warehouse_id="abc123", client=w)
    assert [(r.day, r.engineer_tag, r.lab_tag, r.amount_usd) for r in records] == [
        (date(2026, 11, 3), "dora-example-com", "feature-store", 3.3),
        (date(2026, 11, 4), "dora-example-com", "", 0.7),
    ]
    body = m.request_history[[r.method for r in m.request_history].index("POST")].json()
    assert body["warehouse_id"] == "abc123"
    assert body["format"] == "JSON_ARRAY" and body["disposition"] == "INLINE"
    assert {p["name"]: (p["type"], p["value"]) for p in body["parameters"]} == {
        "start": ("DATE", "2026-11-01"), "end": ("DATE", "2026-11-19"),
        "engineer_tag": ("STRING", "labctl-engineer"), "lab_tag": ("STRING", "labctl-lab"),
    }  # fmt: skip
    sql = body["statement"]
    for needle in ("FROM system.billing.usage AS u", "JOIN system.billing.list_prices AS p",
                   "u.sku_name = p.sku_name", "u.cloud = p.cloud", "u.usage_unit = p.usage_unit",
                   "u.usage_end_time >= p.price_start_time",
                   "(p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)",
                   "u.custom_tags[:engineer_tag]", "u.usage_date < :end"):  # fmt: skip
        assert needle in sql
    assert "2026" not in sql


def test_databricks_failed_statement_is_a_clear_error(workspace):
    from labctl.backends.databricks import billing as databricks_billing

    m, w = workspace
    error = {"message": "TABLE_OR_VIEW_NOT_FOUND: system.billing.usage"}
    m.post(STATEMENTS, json={"statement_id": "s2", "status": {"state": "FAILED", "error": error}})
    with pytest.raises(BackendError, match="FAILED: TABLE_OR_VIEW_NOT_FOUND"):
        databricks_billing.billed_costs(NOV1, NOV19, warehouse_id="abc123", client=w)
    denied = {"error_code": "PERMISSION_DENIED", "message": "no access to system.billing"}
    m.post(STATEMENTS, status_code=403, json=denied)
    with pytest.raises(BackendError) as info:
        databricks_billing.billed_costs(NOV1, NOV19, warehouse_id="abc123", client=w)
    assert "SELECT on system.billing" in info.value.hint


# --- the command line ---------------------------------------------------------------------------


def test_cli_sync_and_report_json(cli, aws, home, tmp_path):
    """Last month, end to end: `cost sync --target aws` against moto, then `cost report`."""
    from labctl.ledger import utcnow

    today = utcnow().date()
    last = today.replace(day=1) - timedelta(days=1)  # last month's last day
    month = f"{last:%Y-%m}"
    through = actuals.covered_until(last.replace(day=1), today.replace(day=1), today, 1)
    through -= timedelta(days=1)
    _post(f"{aws}/moto-api/static/ce/cost-and-usage-results", {"results": [{
        "ResultsByTime": [_day(f"{month}-03", ("tester-example-com", "churn-pipeline", "12.5"))],
        "DimensionValueAttributes": []}]})  # fmt: skip
    run = Ledger().start_run(engineer="tester@example.com", lab="churn-pipeline", target="aws",
                             workspace="/w")  # fmt: skip
    Ledger().update_run(run.id, created_at=datetime(last.year, last.month, 2))

    dry = cli("cost", "sync", "--month", month, "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    (target,) = dry.json()["targets"]
    assert target["status"] == "dry-run" and target["billed_through"] == f"{through}"
    assert cli("cost", "report", "--month", month, "--json").json()["total_spent_usd"] == 0

    synced = cli("cost", "sync", "--month", month)
    assert synced.code == 0, synced.stderr
    assert "aws" in synced.stdout and "$12.50" in synced.stdout
    rep = cli("cost", "report", "--month", month, "--json").json()
    (me,) = rep["engineers"]
    assert (me["engineer"], me["spent_usd"], me["spent_actual_usd"]) == (
        "tester@example.com",
        12.5,
        12.5,
    )
    assert {"engineer", "budget_usd", "spent_usd", "percent", "level"} <= set(me)
    table = cli("cost", "report", "--month", month)
    notes = table.stderr  # piped: the table on stdout, its notes on stderr
    assert "BILLED" in table.stdout and "billed" in notes and f"aws {through}" in notes


def test_cli_sync_missing_settings_and_bad_target(cli):
    # a past month: its bill covers whole days whatever today is (on the 1st, this month's not)
    missing = cli("cost", "sync", "--target", "gcp", "--month", "2026-10")
    assert missing.code == 1 and "Traceback" not in missing.stderr
    assert "no BigQuery billing export table" in missing.stderr
    assert "gcp_export_table" in missing.stderr
    as_json = cli("cost", "sync", "--target", "databricks", "--month", "2026-10", "--json")
    assert as_json.code == 1
    (res,) = as_json.json()["targets"]
    assert res["status"] == "error" and "databricks_warehouse_id" in res["hint"]
    bad = cli("cost", "sync", "--target", "local")
    assert bad.code == 2 and "aws, gcp and databricks" in bad.stderr
    nothing = cli("cost", "sync")
    assert nothing.code == 0 and "nothing to sync" in nothing.stderr
