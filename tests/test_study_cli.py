"""The study commands as a user runs them: up --milestone, progress, done, scaffold, exam record,
reuse record and impact."""

from __future__ import annotations

import pytest

CHURN_M1 = ["churn-data", "firehose-ingest", "glue-etl"]


@pytest.mark.local
@pytest.mark.slow
def test_up_milestone_one_then_progress_shows_it_done(cli):
    try:
        up = cli("up", "churn-pipeline", "--milestone", "1", "--target", "local", "--json")
        assert up.code == 0, up.stderr
        assert sorted(up.json()["steps"]) == sorted(CHURN_M1)  # milestones 2-6 did not run
        assert up.json()["milestone"] == 1
        (entry,) = cli("progress", "--json").json()
        (lab,) = entry["labs"]
        assert lab["lab"] == "churn-pipeline" and lab["milestones_done"] == [1]
        assert entry["coverage"]["aws-mls"]["domains"]["data-engineering"] > 0
        assert entry["coverage"]["aws-mls"]["domains"]["modeling"] == 0
        assert entry["next"]["command"] == "labctl up churn-pipeline --milestone 2"

        # --milestone 2 extends the run in place: one more apply, milestone 1 not rerun
        more = cli("up", "churn-pipeline", "--milestone", "2", "--target", "local", "--json")
        assert more.code == 0, more.stderr
        assert more.json()["run"] == up.json()["run"]
        assert more.json()["steps"]["churn-data"] == up.json()["steps"]["churn-data"]
        assert "validation:auc" in more.json()["steps"]["train-xgboost"]["metrics"]
        assert "churn-data" not in more.stderr  # no progress line: the data step did not rerun
        (run,) = cli("status", "--json").json()
        assert [r["kind"] for r in run["resources"]].count("stack") == 1
        (entry,) = cli("progress", "--json").json()
        assert entry["labs"][0]["milestones_done"] == [1, 2]
        again = cli("up", "churn-pipeline", "--milestone", "2", "--target", "local")
        assert again.code == 3 and "already up" in again.stderr
    finally:
        cli("down", "--all", "--yes")


def test_up_milestone_out_of_range_is_a_usage_error(cli):
    result = cli("up", "churn-pipeline", "--milestone", "7", "--target", "local")
    assert result.code == 2
    assert "has milestones 1 to 6" in result.stderr and "Traceback" not in result.stderr


def test_done_by_hand_counts_in_progress(cli):
    assert cli("done", "churn-pipeline", "--milestone", "2").code == 0
    assert cli("done", "churn-pipeline", "--milestone", "9").code == 2
    (entry,) = cli("progress", "--json").json()
    assert entry["labs"][0]["marked_by_hand"] == [2]
    assert entry["coverage"]["aws-mls"]["domains"]["exploratory-data-analysis"] == 1.0
    text = cli("progress")
    assert text.code == 0 and "churn-pipeline" in text.stdout and "aws-mls" in text.stdout
    assert cli("progress", "--engineer", "x", "--all-engineers").code == 2


def test_scaffold_twice_changes_nothing(cli, tmp_path):
    folder = tmp_path / "mine"
    first = cli("scaffold", "churn-pipeline", str(folder))
    assert first.code == 0, first.stderr
    assert "README.md" in first.stdout and (folder / ".gitignore").is_file()
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    second = cli("scaffold", "churn-pipeline", str(folder))
    assert second.code == 0 and second.stdout == ""
    assert "nothing to do" in second.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    (tmp_path / "a-file").write_text("x")
    blocked = cli("scaffold", "churn-pipeline", str(tmp_path / "a-file"))
    assert blocked.code == 1 and "cannot write" in blocked.stderr
    assert "Traceback" not in blocked.stderr


def test_exam_and_reuse_records_feed_impact(cli, tmp_path):
    for who, score, passed in [("a", "812", True), ("b", "700", True), ("c", "650", False)]:
        args = ["exam", "record", "--cert", "aws-mls", "--engineer", who, "--score", score,
                "--date", "2026-11-02", "--domain", "modeling=70"]  # fmt: skip
        args += ["--passed"] if passed else []
        assert cli(*args).code == 0
    bad = cli("exam", "record", "--cert", "aws-mls", "--score", "1", "--domain", "model=1")
    assert bad.code == 2 and "did you mean 'modeling'" in bad.stderr
    assert cli("exam", "record", "--cert", "aws-ml", "--score", "1").code == 2
    assert cli("exam", "record", "--cert", "aws-mls", "--score", "1", "--date", "2.11").code == 2
    assert cli("reuse", "record", "churn-pipeline", "--client", "acme", "--date",
               "2026-11-20").code == 0  # fmt: skip
    data = cli("impact", "--json").json()
    mls = data["certifications"]["aws-mls"]
    # nobody did a lab: all three without; 2 of 3 passed, (812 + 700 + 650) / 3 = 720.67
    assert mls["without_labs"] == {"engineers": 3, "passed": 2, "pass_rate": 0.6667,
                                   "mean_score": 720.67}  # fmt: skip
    assert mls["with_labs"]["pass_rate"] is None and "too few" in mls["with_labs"]["note"]
    assert mls["domains"]["modeling"]["not_covered"] == {"n": 3, "mean_score": 70.0}
    assert data["reuse"]["labs"][0]["clients"] == ["acme"]
    assert "too few results" in cli("impact").stdout
    page = tmp_path / "team.html"
    assert cli("impact", "--html", str(page)).code == 0
    html = page.read_text()
    assert "<iframe" in html and "Lab spend" in html and "<h2>Impact</h2>" in html
    assert cli("impact", "--json", "--html", str(page)).code == 2
