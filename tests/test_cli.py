"""The command line as a user meets it: output shapes, exit codes, speed-critical imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MLS = {"churn-pipeline", "fraud-detection", "document-classification"}
# bare "google" and "google.cloud" are namespace stubs that aiplatform's .pth makes at start-up
CLOUD_SDKS = (
    *("boto3", "botocore", "google.cloud.", "google.auth"),
    *("databricks", "mlflow", "pyspark"),
)
HEAVY = ("xgboost", "optuna", "sklearn", "pandas", "sqlalchemy", "alembic")


def test_list_json_has_every_lab_and_filters(cli):
    every = cli("list", "--json")
    assert every.code == 0, every.stderr
    rows = every.json()
    assert len(rows) >= 14
    for row in rows:
        assert {"name", "cloud", "certs", "domains", "hours"} <= set(row)
        assert isinstance(row["certs"], list)
    mls = cli("list", "--cert", "aws-mls", "--json").json()
    assert {r["name"] for r in mls} == MLS
    gcp = cli("list", "--cloud", "gcp", "--json").json()
    assert gcp and all(r["cloud"] == "gcp" for r in gcp)
    modeling = cli("list", "--domain", "aws-mls/modeling", "--json").json()
    assert {r["name"] for r in modeling} <= MLS and modeling


def test_list_cache_follows_the_catalog_file(cli, home, tmp_path):
    from labctl import paths

    catalog = tmp_path / "labs.yaml"  # cli runs in tmp_path, so ./labs.yaml is the catalog
    catalog.write_text(paths.packaged_catalog().read_text())
    first = cli("list", "--json")
    assert first.code == 0 and list(home.glob("cache/catalog-*.json"))
    assert cli("list", "--json").json() == first.json()  # from the cache
    text = catalog.read_text().replace("title: ", "titel: ", 1)  # a typo in the first lab
    catalog.write_text(text)
    broken = cli("list", "--json")
    assert broken.code == 1 and "did you mean 'title'" in broken.stderr  # validated, not stale
    catalog.write_text(
        text.replace("titel: ", "title: ", 1).replace("churn-pipeline:", "churn:", 1)
    )
    assert "churn" in {r["name"] for r in cli("list", "--json").json()}


def test_list_table_and_unknown_cert(cli):
    table = cli("list", "--cert", "aws-mls")
    assert table.code == 0 and "churn-pipeline" in table.stdout
    bad = cli("list", "--cert", "aws-mlz")
    assert bad.code == 2 and "did you mean 'aws-mls'" in bad.stderr


def test_show_churn_pipeline_lists_steps_with_instance_types(cli):
    result = cli("show", "churn-pipeline")
    assert result.code == 0, result.stderr
    for word in ("train", "tune", "deploy", "ml.m5"):
        assert word in result.stdout
    data = cli("show", "churn-pipeline", "--json").json()
    kinds = {s["kind"]: s for s in data["steps"]}
    assert kinds["train"]["instance_type"].startswith("ml.")
    assert kinds["deploy"]["instance_type"].startswith("ml.")


def test_unknown_lab_exits_2_with_a_suggestion(cli):
    result = cli("show", "churn-pipelin")
    assert result.code == 2
    assert "did you mean 'churn-pipeline'" in result.stderr
    assert "Traceback" not in result.stderr


def test_certs_json_has_weights_and_coverage(cli):
    certs = {c["id"]: c for c in cli("certs", "--json").json()}
    mls = {d["id"]: d for d in certs["aws-mls"]["domains"]}
    assert sum(d["weight"] for d in mls.values()) == 100
    assert all(d["labs"] for d in mls.values())
    assert "uncovered" in certs["gcp-pmle"]


def test_validate(cli, tmp_path):
    assert cli("validate").code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("certifications: {}\nlabs:\n  x:\n    titel: X\n")
    result = cli("validate", str(bad))
    assert result.code == 1
    assert f"{bad}:4:" in result.stderr and "did you mean 'title'" in result.stderr
    assert "Traceback" not in result.stderr


def test_catalog_override_by_flag_env_and_cwd(cli, tmp_path):
    missing = cli("--catalog", str(tmp_path / "nope.yaml"), "list")
    assert missing.code == 1 and "cannot read catalog" in missing.stderr
    env = cli("list", env={"LABCTL_CATALOG": str(tmp_path / "nope.yaml")})
    assert env.code == 1
    (tmp_path / "labs.yaml").write_text("not: [a catalog")  # cli runs in tmp_path
    assert cli("list").code == 1


def test_usage_errors_exit_2(cli):
    assert cli("down").code == 2
    assert cli("list", "--no-such-flag").code == 2
    assert cli("up", "churn-pipeline", "--target", "mars").code == 2


@pytest.mark.parametrize(
    "argv", [["--help"], ["list"], ["list", "--json"], ["status"], ["cost", "report"]]
)
def test_fast_commands_import_no_cloud_sdk(argv, home):
    probe = (
        "import sys\nfrom labctl.cli import main\n"
        f"sys.argv = ['labctl', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import json\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    # the first `list` after a catalog or price change builds the cache: it prices every lab
    # (cost -> ledger -> SQLAlchemy) and checks the local target; the ones after read the cache.
    # The first command on a new ledger migrates it (alembic); the ones after do not.
    for warm in (["list", "--json"], argv):
        subprocess.run([sys.executable, "-m", "labctl", *warm], capture_output=True)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    cloud = [m for m in loaded if m.startswith(CLOUD_SDKS)]
    assert cloud == [], cloud
    ledger_users = ("status", "cost")  # SQLAlchemy, and nothing else heavy
    allowed = ("sqlalchemy",) if argv[0] in ledger_users else ()
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY and not m.startswith(allowed)]
    assert heavy == [], heavy
    assert not [m for m in loaded if m.startswith(("numpy", "labctl.backends.local"))]


def test_render_aws_module_uses_the_module_and_default_tags(cli, tmp_path):
    out = tmp_path / "rendered"
    result = cli("render", "churn-pipeline", "--target", "aws", "--out", str(out))
    assert result.code == 0, result.stderr
    doc = json.loads((out / "main.tf.json").read_text())
    assert doc["module"]["lab"]["source"] == "./modules/aws"
    tags = doc["provider"]["aws"]["default_tags"]["tags"]
    assert set(tags) == {"labctl-engineer", "labctl-lab", "labctl-run"}
    assert tags["labctl-engineer"] == "tester-example-com"
    assert (out / "modules" / "aws" / "main.tf").exists()
    assert "bucket" in doc["output"] and "role_arn" in doc["output"]


def test_missing_extra_names_the_pip_command(cli):
    result = cli("up", "movie-recommender", "--target", "gcp")
    if result.code == 1 and "pip install 'labctl[gcp]'" in result.stderr:
        return  # google-cloud-aiplatform is not installed here: the hint names the extra
    assert result.code in (1, 3) and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("lab", "target", "provider"),
    [("movie-recommender", "gcp", "google"), ("distributed-tuning", "databricks", None)],
)
def test_render_any_target_without_its_sdk(cli, tmp_path, lab, target, provider):
    (tmp_path / "no-config.toml").write_text('[gcp]\nproject = "lab-project"\n')  # gcp needs one
    out = tmp_path / target
    result = cli("render", lab, "--target", target, "--out", str(out))
    assert result.code == 0, result.stderr
    doc = json.loads((out / "main.tf.json").read_text())
    assert doc["module"]["lab"]["source"] == f"./modules/{target}"
    assert doc["module"]["lab"]["tags"]["labctl-lab"] == lab
    if provider:
        assert set(doc["provider"][provider]["default_labels"]) == {
            "labctl-engineer",
            "labctl-lab",
            "labctl-run",
        }
    assert (out / "modules" / target / "main.tf").exists()


@pytest.mark.parametrize(
    ("lab_name", "target"),
    [
        ("churn-pipeline", "aws"),
        ("movie-recommender", "gcp"),
        ("sales-forecasting", "gcp"),
        ("distributed-tuning", "databricks"),
    ],
)
def test_render_without_the_sdk_writes_what_the_backend_writes(
    home, tmp_path, monkeypatch, lab_name, target
):
    """`render` and `plan` fall back to a stand-in when a cloud SDK is missing: same module."""
    from labctl import catalog, config, orchestrator
    from labctl.backends import base
    from labctl.errors import MissingExtra
    from labctl.progress import Reporter

    (tmp_path / "no-config.toml").write_text(
        '[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n'
        '[gcp]\nproject = "lab-project"\nregion = "europe-west4"\n'
        '[databricks]\nprofile = "study"\n'
    )
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    config.settings.cache_clear()
    lab = catalog.load().lab(lab_name)

    def module(backend: base.Backend) -> dict:
        rendered = orchestrator.root_module(
            backend, engineer="ana", lab=lab_name, run_id="r1", ws=tmp_path / "ws", spec=lab
        )
        return json.loads(rendered.write(tmp_path / type(backend).__name__).read_text())

    real = base.get_backend(target)

    def missing(name: str) -> base.Backend:
        raise MissingExtra(name, "sdk")

    monkeypatch.setattr(base, "get_backend", missing)
    stand_in = base.backend_for_render(target)
    assert isinstance(stand_in, base.RenderOnly) and not isinstance(stand_in, type(real))
    assert module(stand_in) == module(real)
    [finding] = stand_in.check(lab)  # one line, not one per step
    assert finding.fatal and f"pip install 'labctl[{target}]'" in finding.reason
    if target == "aws":
        assert module(real)["provider"]["aws"]["region"] == "eu-west-1"
        plan = orchestrator.plan(lab_name, target="aws", engineer="ana", catalog=None,
                                 reporter=Reporter(), run_terraform=False)  # fmt: skip
        assert plan.findings == [finding] and plan.estimate.region == "eu-west-1"
        assert plan.estimate.total_usd > 0 and not plan.estimate.unpriced


def test_messages_with_brackets_are_printed_as_written():
    """Hints like `pip install 'labctl[spark]'` are not eaten as rich markup."""
    import io

    from rich.console import Console

    from labctl.progress import RichReporter

    buf = io.StringIO()
    reporter = RichReporter(Console(file=buf, width=200))
    reporter.warn("pip install 'labctl[spark]'")
    reporter.info("module.lab.aws_s3_bucket.this[0] [bold]")
    assert "labctl[spark]" in buf.getvalue() and "this[0] [bold]" in buf.getvalue()
