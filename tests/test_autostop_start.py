"""The session after `up` on the local target, end to end (real terraform, real model server):
the default deadline, autostop firing through `cost enforce`, `extend` refused then allowed,
`start` bringing the endpoint back without retraining, and what `down` says each run cost.

No test reads the clock: deadlines are compared with the ledger's own timestamps."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from datetime import timedelta

import pytest
from test_local import _token_processes, endpoint_url, port_open

from labctl.ledger import Ledger

pytestmark = [pytest.mark.local, pytest.mark.slow]
LAB = "churn-pipeline"


@pytest.fixture(autouse=True)
def _clean_up(cli, home):
    yield
    cli("down", "--all", "--yes")
    for pid in _token_processes(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run():
    (run,) = Ledger().active_runs(lab=LAB)
    return run


def _kinds(run_id: str) -> list[str]:
    return sorted(r.kind for r in Ledger().run_resources(run_id))


def test_autostop_fires_then_start_brings_the_endpoint_back_without_retraining(cli, home):
    up = cli("up", LAB, "--milestone", "4", "--rows", "1000", "--trials", "1", "--json")
    assert up.code == 0, up.stderr
    run = _run()
    assert run.autostop_at - run.created_at == pytest.approx(timedelta(hours=8), abs=timedelta(
        seconds=5))  # the team default (8h), from when `up` started  # fmt: skip
    assert up.json()["autostop"] == "team default_autostop 8h"
    assert run.outputs["autostop"]["autostop_choice"] == "default"
    first_url = endpoint_url(cli)
    (status,) = cli("status", "--json").json()
    assert status["autostop_at"] == up.json()["autostop_at"]

    extended = cli("extend", LAB, "90m", "--json")
    assert extended.code == 0, extended.stderr
    moved = _run().autostop_at
    assert moved - run.autostop_at == timedelta(minutes=90)
    assert "cost enforce" in extended.json()["enforced_by"]  # local: the ledger alone

    # autostop fires: the deadline has passed and `cost enforce` (cron) stops the endpoint
    Ledger().update_run(run.id, autostop_at=run.created_at - timedelta(minutes=1))
    enforced = cli("cost", "enforce", "--yes")
    assert enforced.code == 0, enforced.stderr
    assert not port_open(first_url)
    assert _run().status == "up"  # the data, models and stack stay: only endpoints went
    before = _kinds(run.id)

    refused = cli("extend", LAB, "2h")
    assert refused.code == 3 and f"labctl start {LAB}" in refused.stderr

    started = cli("start", LAB, "--autostop", "1h", "--json")
    assert started.code == 0, started.stderr
    data = started.json()
    url = data["steps"]["endpoint"]["url"]
    assert port_open(url) and data["autostop"] == "--autostop 1h"
    after = _run()
    assert after.autostop_at - after.created_at > timedelta(minutes=59)
    assert _kinds(run.id) == sorted([*before, "endpoint"])  # no training job, one endpoint more
    schema = next(home.glob(f"workspaces/*/{LAB}/local/bucket/data/*/schema.json"))
    row = ",".join(["0"] * len(json.loads(schema.read_text())["features"]))
    invoked = cli("invoke", LAB, input=row + "\n")
    assert invoked.code == 0, invoked.stderr
    assert [e.kind for e in Ledger().events(kind="started")] == ["started"]

    again = cli("start", LAB)
    assert again.code == 2 and "extend" in again.stderr

    down = cli("down", LAB, "--yes", "--json")
    assert down.code == 0, down.stderr
    (cost,) = down.json()["runs"]
    assert cost["run"] == run.id and cost["cloud_equivalent"] is True
    assert cost["estimated_usd"] > 0 and cost["billed_usd"] is None  # two endpoint intervals
    table = cli("down", LAB, "--yes")
    assert table.code == 0 and "nothing to tear down" in table.stderr


def test_autostop_none_is_a_recorded_choice(cli):
    up = cli("up", LAB, "--milestone", "1", "--rows", "300", "--autostop", "none", "--json")
    assert up.code == 0, up.stderr
    assert up.json()["autostop_at"] is None
    run = _run()
    assert run.autostop_at is None
    assert run.outputs["autostop"] == {"autostop_at": None, "autostop": "--autostop none",
                                       "autostop_choice": "none"}  # fmt: skip
    (event,) = Ledger().events(kind="autostop-none")
    assert event.run_id == run.id
    refused = cli("extend", LAB, "2h")
    assert refused.code == 2 and "no deadline" in refused.stderr
    down = cli("down", LAB, "--yes")
    assert down.code == 0 and "What each run cost" in down.stdout and run.id in down.stdout
