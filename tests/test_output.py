"""What people see in a terminal and what scripts get through a pipe; `plan` as a pre-flight."""

from __future__ import annotations

import io
import logging
import re
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import fake_adc
from rich.console import Console

from labctl import views

URL = "http://127.0.0.1:54321/invocations/a/long/path/that/must/stay/on/one/line/for/grep"
BOX = set("┏┃━┡│└┘┌┐─╇╋")


def _seed_up_run(lab: str = "churn-pipeline", url: str = URL) -> str:
    """A run of `lab` that is up, with an endpoint, in the test's ledger."""
    from labctl.ledger import Ledger

    ledger = Ledger()
    run = ledger.start_run(engineer="tester@example.com", lab=lab, target="local",
                           workspace="/nonexistent/ws")  # fmt: skip
    ledger.update_run(run.id, status="up")
    res = ledger.add_resource(run, kind="endpoint", name=f"{lab}-endpoint",
                              instance_type="ml.m5.xlarge", instance_count=1,
                              price_per_hour=0.23, attrs={"url": url})  # fmt: skip
    ledger.update_resource(res.id, status="running")
    return run.id


def _terminal(width: int = 80) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=True, color_system=None), buf


# --- the table printer --------------------------------------------------------------------------


def test_terminal_tables_never_break_identifiers_only_free_text():
    console, buf = _terminal(80)
    cols = (views.Col("instance"), views.Col("url"), views.Col("usd", right=True),
            views.Col("note", fold=True))  # fmt: skip
    note = "a long free-text note that may fold over several lines in a narrow terminal"
    views.print_table(console, cols, [["ml.m5.xlarge", URL, "$1,234.56", note]], title="t")
    text = buf.getvalue()
    assert set(text) & BOX  # a terminal gets a rich table
    one_line = [line for line in text.splitlines() if "ml.m5.xlarge" in line]
    assert one_line and URL in one_line[0] and "$1,234.56" in one_line[0]
    assert "…" not in text
    assert "note that" in text  # the free text is there, folded


def test_plain_tables_align_columns_without_boxes_or_colour():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False)
    cols = (views.Col("name"), views.Col("usd", right=True), views.Col("what", fold=True))
    rows = [["a", "$1.00", "x"], views.SECTION, ["long-name", "$100.00", "two\nlines"]]
    views.print_table(console, cols, rows, title="ignored in pipes")
    lines = buf.getvalue().splitlines()
    assert lines == [
        "NAME           USD  WHAT",
        "a            $1.00  x",
        "long-name  $100.00  two",
        "                    lines",
    ]
    assert not set(buf.getvalue()) & BOX and "\x1b[" not in buf.getvalue()
    buf.seek(0), buf.truncate()
    views.print_table(console, cols, rows, headers=False)
    assert buf.getvalue().splitlines()[0].startswith("a ")


# --- the commands through a pipe ----------------------------------------------------------------


def test_piped_listings_keep_each_value_whole_on_its_line(cli):
    prices = cli("prices", "show", "--cloud", "aws")
    assert prices.code == 0, prices.stderr
    xl = [line for line in prices.stdout.splitlines() if "ml.m5.xlarge" in line.split()]
    assert xl and all(line.split()[0] == "aws" for line in xl)
    assert "SOURCE" in prices.stdout.splitlines()[0] and "AS_OF" in prices.stdout.splitlines()[0]
    assert not set(prices.stdout) & BOX
    listing = cli("list")
    [doc] = [line for line in listing.stdout.splitlines() if "document-classification" in line]
    assert doc.split()[:2] == ["document-classification", "aws"] and "$" in doc
    assert len(listing.stdout.splitlines()) == len(cli("list", "--json").json()) + 1
    bare = cli("list", "--no-headers").stdout.splitlines()
    assert bare[0].split()[0] == "churn-pipeline"


def test_status_prints_the_endpoint_url_on_one_line(cli):
    _seed_up_run()
    result = cli("status")
    assert result.code == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if URL in line]


def test_prices_filters_and_csv(cli):
    rows = cli("prices", "show", "--instance", "ml.m5.xlarge", "--region", "us-east-1",
               "--usage", "hosting", "--json").json()  # fmt: skip
    assert [(r["instance_type"], r["region"], r["usage"]) for r in rows] == [
        ("ml.m5.xlarge", "us-east-1", "hosting")
    ]
    assert rows[0]["source"] and rows[0]["as_of"]
    csv = cli("prices", "show", "--cloud", "gcp", "--csv").stdout.splitlines()
    assert csv[0].startswith("cloud,usage,region,instance_type,usd_per_hour")
    assert cli("prices", "show", "--region", "mars-1").code == 2
    assert cli("prices", "show", "--instance", "ml.zz9.huge").code == 2


def test_list_compact_wide_csv(cli):
    compact = cli("list").stdout.splitlines()[0].split()
    assert compact == ["NAME", "CLOUD", "CERTS", "HOURS", "LOCAL", "$/SESSION"]
    wide = cli("list", "--wide").stdout.splitlines()[0].split()
    assert wide[-3:] == ["TITLE", "STEPS", "DOMAINS"]
    csv = cli("list", "--csv").stdout.splitlines()
    assert csv[0].startswith("name,title,cloud,certs") and len(csv) >= 15
    rows = {r["name"]: r for r in cli("list", "--json").json()}
    assert rows["churn-pipeline"]["runs_locally"] is True
    assert rows["churn-pipeline"]["session_usd"] > 0


# --- lab names and filter values ----------------------------------------------------------------


def test_down_a_typo_while_the_lab_is_up_exits_2_naming_it(cli):
    _seed_up_run("churn-pipeline")
    result = cli("down", "churn", "--yes")
    assert result.code == 2, result.stderr
    assert "churn-pipeline" in result.stderr and "nothing to tear down" not in result.stderr
    assert cli("status", "--json").json()[0]["lab"] == "churn-pipeline"  # still up


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "churn"],
        ["plan", "churn"],
        ["show", "churn"],
        ["render", "churn", "--out", "x"],
        ["invoke", "churn"],
    ],
)
def test_every_command_taking_a_lab_suggests_the_close_one(cli, argv):
    result = cli(*argv)
    assert result.code == 2, result.stderr
    assert "did you mean 'churn-pipeline'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--cloud", "azure"],
        ["list", "--domain", "nonsense"],
        ["list", "--cert", "aws-mlz"],
        ["down", "--all", "--target", "mars"],
    ],
)
def test_filter_values_are_checked(cli, argv):
    result = cli(*argv)
    assert result.code == 2 and "Traceback" not in result.stderr, result.stderr


# --- plan ---------------------------------------------------------------------------------------


def test_plan_over_budget_prints_the_estimate_then_exits_3_naming_the_fitting_autostop(
    cli, tmp_path
):
    team = tmp_path / "team.yaml"
    team.write_text("team:\n  monthly_budget_usd: 5\n")
    config = tmp_path / "labctl.toml"
    config.write_text('[gcp]\nproject = "lab-project"\n')  # else: refused, no project
    env = {"LABCTL_TEAM": str(team), "LABCTL_CONFIG": str(config), **fake_adc(tmp_path)}
    args = ("plan", "movie-recommender", "--target", "gcp", "--no-terraform")
    over = cli(*args, "--autostop", "100h", env=env)
    assert over.code == 3, over.stderr
    assert "Estimate: gcp prices" in over.stdout and "total" in over.stdout
    assert "--force" not in over.stderr
    autostop = re.search(r"--autostop (\S+)` fits", over.stderr)
    assert autostop, over.stderr
    fits = cli(*args, "--autostop", autostop.group(1), env=env)
    assert fits.code == 0, fits.stdout + fits.stderr
    assert "would run within budget" in fits.stdout
    assert "terraform plan: skipped" in fits.stdout


def test_plan_autostop_none_prints_the_estimate_before_refusing(cli, tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text("team:\n  monthly_budget_usd: 0.01\n")
    result = cli("plan", "movie-recommender", "--target", "gcp", "--autostop", "none",
                 "--no-terraform", env={"LABCTL_TEAM": str(team)})  # fmt: skip
    assert result.code == 3, result.stderr
    assert result.stdout.index("Estimate:") < result.stdout.index("budget ")


def test_plan_with_a_fatal_finding_exits_3_after_the_findings(cli, tmp_path):
    # a data step whose generator does not exist: a fatal finding on the local target
    labs = Path(__file__).resolve().parents[1] / "labs.yaml"
    catalog = tmp_path / "labs.yaml"
    text = labs.read_text().replace("generator: customer-records-pii", "generator: no-such-data")
    catalog.write_text(text)
    result = cli("plan", "secure-ml-pipeline", "--target", "local", "--no-terraform",
                 env={"LABCTL_CATALOG": str(catalog)})  # fmt: skip
    assert result.code == 3, result.stderr
    assert "refuses" in result.stdout and "Estimate:" in result.stdout
    assert "--target aws" in result.stderr


def test_plan_exits_1_when_terraform_could_not_plan(home, monkeypatch, capsys):
    from labctl import cli, terraform
    from labctl.errors import TerraformError

    def broken(self):
        raise TerraformError("terraform init failed: no provider")

    monkeypatch.setattr(terraform.Stack, "init", broken)
    monkeypatch.setattr(sys, "argv", ["labctl", "plan", "churn-pipeline", "--target", "local"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    captured = capsys.readouterr()
    assert exit_.value.code == 1, captured.err
    assert "Estimate:" in captured.out and "terraform plan failed" in captured.out


def test_fitting_autostop_is_computed_from_the_estimate():
    from types import SimpleNamespace

    from labctl.cli import _fitting_autostop
    from labctl.cost import EstimateLine

    lines = [
        EstimateLine("train", "train", "ml.m5.xlarge", 1, 1, 0.5, 0.5),
        EstimateLine("ep", "deploy", "ml.m5.large", 2, 100, 0.25, 50.0),  # $0.50/h
    ]
    budget = SimpleNamespace(budget_usd=10.0, spent_usd=2.0, reserved_usd=0.5)
    result = SimpleNamespace(estimate=SimpleNamespace(lines=lines), budget=budget)
    assert _fitting_autostop(result) == "14h"  # (10 - 2 - 0.5 - 0.5) / 0.5 = 14 h
    budget.budget_usd = 1000.0
    assert _fitting_autostop(result) == "83d2h"  # 1994 h
    budget.budget_usd, budget.spent_usd = 10.0, 9.6
    assert _fitting_autostop(result) is None


# --- small things -------------------------------------------------------------------------------


def test_version_completion_and_help_without_bool(cli):
    from labctl import __version__

    version = cli("--version")
    assert version.code == 0 and version.stdout.strip() == f"labctl {__version__}"
    top = cli("--help", env={"COLUMNS": "100"})
    assert "--install-completion" in top.stdout
    down = cli("down", "--help", env={"COLUMNS": "100"})
    assert "--dry-run" in down.stdout and "<bool>" not in down.stdout


def test_a_declined_down_says_nothing_destroyed_and_exits_1(home, monkeypatch, capsys):
    import typer

    from labctl import cli

    _seed_up_run()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(typer, "confirm", lambda *a, **k: False)
    monkeypatch.setattr(sys, "argv", ["labctl", "down", "churn-pipeline"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    assert "nothing destroyed" in capsys.readouterr().err


def test_plain_progress_is_one_line_per_step_with_a_readable_time(monkeypatch):
    from labctl import progress

    clock = iter([100.0, 165.0, 200.0, 203.25])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    buf = io.StringIO()
    reporter = progress.RichReporter(Console(file=buf, force_terminal=False, width=40))
    with reporter.task("terraform apply (local)") as task:
        task.advance()
    with pytest.raises(RuntimeError), reporter.task("train a model with a long name", total=3):
        raise RuntimeError("boom")
    assert buf.getvalue().splitlines() == [
        "terraform apply (local): done in 1m05s",
        "train a model with a long name: failed after 3.2s",
    ]


def test_third_party_logs_go_to_the_lab_log_file(tmp_path, capsys):
    from labctl.progress import log_to

    chatty = logging.getLogger("mlflow.tracking")
    logging.getLogger("mlflow").propagate = False  # as MLflow configures itself once imported
    own = logging.StreamHandler(sys.stderr)
    logging.getLogger("py4j").addHandler(own)
    log = tmp_path / "ws" / "labctl.log"
    try:
        with log_to(log):
            chatty.warning("mlflow says hello")
            logging.getLogger("py4j.clientserver").warning("py4j says hello")
            late = logging.StreamHandler(sys.stderr)  # a library configuring itself mid-run
            logging.getLogger("optuna").addHandler(late)
            logging.getLogger("optuna").warning("optuna says hello")
    finally:
        logging.getLogger("py4j").removeHandler(own)
        logging.getLogger("optuna").handlers.clear()
        logging.getLogger("mlflow").propagate = True
    text = log.read_text()
    assert "mlflow says hello" in text and "py4j says hello" in text and "optuna says" in text
    assert "hello" not in capsys.readouterr().err


# --- the HTML report ----------------------------------------------------------------------------


def _report(now: datetime) -> dict:
    from labctl import spend_report
    from labctl.ledger import Ledger

    return spend_report.report(Ledger(), None, now=now)


def test_html_report_with_no_spend_lists_the_configured_engineers(home):
    from labctl import cost, reports

    team = cost.Team.model_validate(
        {"monthly_budget_usd": 300, "engineers": {"ana@example.com": {"monthly_budget_usd": 500}}}
    )
    page = reports.html(_report(datetime(2026, 12, 1, 9)), team)
    assert "ana@example.com" in page and "$500.00" in page and "Total $0.00 of $0.00" not in page
    assert "<svg" in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def _entry(name: str, budget: float, spent: float, forecast: float, level: str) -> dict:
    return {
        "engineer": name, "budget_usd": budget, "spent_usd": spent, "spent_actual_usd": 0.0,
        "spent_estimated_usd": spent, "closed_usd": spent, "running_usd": 0.0,
        "burn_usd_per_hour": 0.5 if forecast > spent else 0.0, "forecast_usd": forecast,
        "percent": spent / budget * 100, "level": level, "crossed": [],
        "labs": [{"lab": "churn-pipeline", "target": "aws", "spent_usd": spent,
                  "cloud_equivalent_usd": None, "spent_actual_usd": 0.0}],
    }  # fmt: skip


SPEND = {
    "month": "2026-12",
    "engineers": [
        _entry("ana@example.com", 300, 320, 400, "100"),
        _entry("bo@example.com", 300, 100, 350, "ok"),
        _entry("cy@example.com", 300, 160, 160, "50"),
    ],
    "total_budget_usd": 900, "total_spent_usd": 580, "total_spent_actual_usd": 0,
    "billed_through": {}, "unpriced_resources": 0,
}  # fmt: skip


def test_html_report_says_who_is_over_and_draws_thresholds():
    from labctl import cost, reports

    page = reports.html(SPEND, cost.Team())
    over = page.split("<ul class='alerts'>")[1].split("</ul>")[0]
    assert "ana@example.com" in over and "over budget" in over
    assert "bo@example.com" in over and "on course" in over and "cy@example.com" not in over
    assert page.count('class="threshold t50"') == 3 and page.count('class="threshold t100"') == 3
    assert "burn rate now <b>$1.000/h</b>" in page and "churn-pipeline (aws)" in page


def _chromium() -> str:
    import os
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    if os.environ.get("CI"):
        pytest.fail("CI must have chromium (.ci/run installs it)")
    pytest.skip("no chromium here (apt-get install chromium)")


@pytest.mark.parametrize("with_spend", [True, False])
def test_html_report_renders_in_a_headless_browser(tmp_path, with_spend):
    import subprocess

    from labctl import cost, reports

    team = cost.Team.model_validate({"engineers": {"dee@example.com": {"monthly_budget_usd": 50}}})
    data = SPEND if with_spend else {**SPEND, "engineers": [], "total_spent_usd": 0}
    page = tmp_path / "report.html"
    page.write_text(reports.html(data, team), encoding="utf-8")
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    bars = 2 * (len(data["engineers"]) + 1)  # spent + forecast per engineer, dee included
    assert f'data-bars-drawn="{bars}"' in proc.stdout, proc.stdout[-2000:]
    assert proc.stdout.count('class="threshold') == 3 * (bars // 2)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], console
