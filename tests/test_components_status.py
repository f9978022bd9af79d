"""`status` shows the milestones a run brought up (`up LAB --milestone N`), in the table and
in --json; a run of the whole lab shows none."""

from __future__ import annotations


def _seed(lab: str, milestone: int | None) -> str:
    from labctl.ledger import Ledger

    ledger = Ledger()
    run = ledger.start_run(engineer="tester@example.com", lab=lab, target="local",
                           workspace="/nonexistent/ws")  # fmt: skip
    outputs = {"milestone": milestone} if milestone else {}
    ledger.update_run(run.id, status="up", outputs=outputs)
    return run.id


def test_status_shows_the_milestone_of_a_run(cli):
    milestone_run = _seed("churn-pipeline", 2)
    whole_run = _seed("fraud-detection", None)
    runs = {r["run"]: r for r in cli("status", "--json").json()}
    assert runs[milestone_run]["milestone"] == 2
    assert runs[whole_run]["milestone"] is None
    table = cli("status").stdout.splitlines()
    [line] = [x for x in table if f"run {milestone_run}" in x]
    assert "milestones 1-2" in line
    [line] = [x for x in table if f"run {whole_run}" in x]
    assert "milestones" not in line
