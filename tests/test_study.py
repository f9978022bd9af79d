"""The study layer: milestone step sets and domains, progress, impact figures, scaffold, page.

Impact figures are checked against numbers computed by hand in the comments."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from labctl import catalog
from labctl.errors import UsageError
from labctl.ledger import Ledger
from labctl.study import impact, milestones, page, progress
from labctl.study.scaffold import scaffold

STEP_DEFAULTS = {
    "data": "generator: telco-churn",
    "train": "algorithm: xgboost, data: {data}, instance_type: ml.m5.xlarge, "
    "metric: {{name: 'validation:auc'}}",
    "deploy": "model: {model}, instance_type: ml.m5.large",
}


def lab_yaml(name: str, domains: str, milestones_: list[tuple[int, list[str]]],
             steps: list[tuple[str, str, dict[str, str]]]) -> str:  # fmt: skip
    ms = "\n".join(f"      - {{title: 'M{i}', hours: {h}, steps: [{', '.join(s)}]}}"
                   for i, (h, s) in enumerate(milestones_, 1))  # fmt: skip
    st = "\n".join(
        f"      - {{name: {n}, kind: {k}, {STEP_DEFAULTS[k].format(**refs)}}}"
        for n, k, refs in steps
    )
    return f"""
  {name}:
    title: Lab {name}
    summary: A test lab.
    cloud: aws
    certs: [{", ".join(c.split(":")[0].strip() for c in domains.split(";"))}]
    domains: {{{", ".join(domains.split(";"))}}}
    services: [S3]
    architecture: [a -> b]
    dataset: {{name: d, offline: generated}}
    hours: 8-12
    milestones:
{ms}
    outcomes: [something]
    steps:
{st}
"""


CATALOG = (
    """
version: 1
certifications:
  c1:
    title: Cert One
    vendor: V
    domains:
      - {id: data-engineering, title: Data Engineering, weight: 25}
      - {id: modeling, title: Modeling, weight: 75}
  c2:
    title: Cert Two
    vendor: V
    domains:
      - {id: modeling, title: Modeling}
labs:"""
    # lab-a: data-engineering credited to M1 (a data step), modeling to M2 (a train step)
    + lab_yaml("lab-a", "c1: [data-engineering, modeling]", [(4, ["d"]), (4, ["t"]), (4, ["ep"])],
               [("d", "data", {}), ("t", "train", {"data": "d"}),
                ("ep", "deploy", {"model": "t"})])
    # lab-b: modeling of c1 and c2, credited to both of its train milestones (3 h and 5 h)
    + lab_yaml("lab-b", "c1: [modeling]; c2: [modeling]", [(3, ["d2", "t2"]), (5, ["t3"])],
               [("d2", "data", {}), ("t2", "train", {"data": "d2"}),
                ("t3", "train", {"data": "d2"})])
    # lab-c: milestone 1 trains on the data step of milestone 2
    + lab_yaml("lab-c", "c1: [modeling]", [(4, ["t"]), (4, ["d"])],
               [("d", "data", {}), ("t", "train", {"data": "d"})])
)  # fmt: skip


@pytest.fixture
def cat():
    return catalog.parse(CATALOG)


def run_with(ledger: Ledger, engineer: str, lab: str, steps: list[str], on: datetime) -> None:
    run = ledger.start_run(engineer=engineer, lab=lab, target="local", workspace="/w")
    ledger.update_run(run.id, created_at=on, ended_at=on.replace(hour=on.hour + 2), status="down",
                      outputs={"steps": {s: {"skipped": "test"} for s in steps}})  # fmt: skip


# --- milestones ---------------------------------------------------------------------------------


def test_through_keeps_the_steps_of_milestones_one_to_n_in_lab_order(cat):
    lab = cat.lab("lab-a")
    assert [s.name for s in milestones.through(lab, "lab-a", 2).steps] == ["d", "t"]
    assert [s.name for s in milestones.through(lab, "lab-a", 3).steps] == ["d", "t", "ep"]
    with pytest.raises(UsageError, match="has milestones 1 to 3"):
        milestones.through(lab, "lab-a", 4)
    with pytest.raises(UsageError, match="needs step 'd', which comes in milestone 2") as exc:
        milestones.through(cat.lab("lab-c"), "lab-c", 1)
    assert exc.value.hint == "use --milestone 2"


def test_every_shipped_lab_can_come_up_milestone_by_milestone():
    cat = catalog.load()
    for name, lab in cat.labs.items():
        for n in range(1, len(lab.milestones) + 1):
            milestones.through(lab, name, n)


def test_milestone_domains_follow_the_steps_and_fall_back_to_the_whole_lab(cat):
    assert milestones.milestone_domains(cat.lab("lab-a")) == [
        {"c1/data-engineering"}, {"c1/modeling"}, set()
    ]  # fmt: skip
    churn = milestones.milestone_domains(catalog.load().lab("churn-pipeline"))
    assert churn[0] == {"aws-mls/data-engineering"}
    assert "aws-mls/exploratory-data-analysis" in churn[1]
    # no theme for problem framing: every milestone of the lab is credited with it
    movie = catalog.load().lab("movie-recommender")
    assert all("gcp-pmle/ml-problem-framing" in d for d in milestones.milestone_domains(movie))


def test_every_shipped_domain_has_a_theme_or_is_whole_lab_by_design():
    cat = catalog.load()
    whole_lab = {"ml-problem-framing", "ml-solution-architecture", "security-risk-management",
                 "asset-security", "security-architecture-engineering",
                 "communication-network-security", "security-assessment-testing",
                 "security-operations"}  # fmt: skip
    ids = {d.id for c in cat.certifications.values() for d in c.domains}
    assert ids - set(milestones.DOMAIN_THEMES) <= whole_lab


# --- progress -----------------------------------------------------------------------------------


def test_progress_from_runs_and_marks_by_hand(db, cat):
    ledger = Ledger()
    run_with(ledger, "ana", "lab-a", ["d"], datetime(2026, 1, 5, 9))
    run_with(ledger, "ana", "lab-b", ["d2"], datetime(2026, 1, 6, 9))  # half of M1: not done
    progress.mark_done(ledger, cat, engineer="ana", lab="lab-b", milestone=2,
                       now=datetime(2026, 1, 7))  # fmt: skip
    with pytest.raises(UsageError):
        progress.mark_done(ledger, cat, engineer="ana", lab="lab-b", milestone=3)
    (entry,) = progress.report(ledger, cat, engineer="ana", now=datetime(2026, 1, 8))
    labs = {lab["lab"]: lab for lab in entry["labs"]}
    assert labs["lab-a"]["milestones_done"] == [1]
    assert labs["lab-b"]["milestones_done"] == [2]
    assert labs["lab-b"]["marked_by_hand"] == [2]
    assert entry["milestones_done"] == 2 and entry["labs_done"] == 0
    assert entry["run_hours"] == 4.0  # two runs of 2 h
    assert entry["milestone_hours"] == 4 + 5
    # data-engineering: lab-a M1 done = 1.0; modeling: best of lab-a 0/4 and lab-b 5/8 = 0.625
    c1 = entry["coverage"]["c1"]
    assert c1["domains"] == {"data-engineering": 1.0, "modeling": 0.625}
    assert c1["weighted"] == pytest.approx((25 * 1.0 + 75 * 0.625) / 100, abs=1e-4)
    assert entry["coverage"]["c2"]["weighted"] == 0.625  # no weights: equal
    # next: lab-a M2 and lab-c M1 take c1 modeling 0.625 -> 1.0 (+0.375 x 0.75); lab-b M1 does
    # that and takes c2 from 0.625 to 1.0 too (+0.375)
    nxt = entry["next"]
    assert nxt["command"] == "labctl up lab-b --milestone 1"
    assert nxt["gain"] == pytest.approx(0.375 * 0.75 + 0.375, abs=1e-3)
    assert nxt["gain_by_cert"] == {"c1": pytest.approx(0.2812, abs=1e-3), "c2": 0.375}


def test_coverage_until_a_date_counts_only_what_was_done_by_then(db, cat):
    ledger = Ledger()
    run_with(ledger, "bo", "lab-a", ["d", "t"], datetime(2026, 3, 1, 9))
    done = progress.done_by_engineer(ledger, cat)["bo"]
    assert progress.coverage(cat, done, until=datetime(2026, 2, 28))["c1"]["weighted"] == 0
    assert progress.coverage(cat, done)["c1"]["weighted"] == 1.0


# --- impact -------------------------------------------------------------------------------------


def exam(ledger, cat, who, on, score, passed, **domains):
    impact.record_exam(ledger, cat, engineer=who, cert="c1", taken_on=on, score=score,
                       passed=passed, domains=[f"{d}={v}" for d, v in domains.items()])  # fmt: skip


def test_impact_figures_match_a_hand_computation(db, cat):
    ledger = Ledger()
    de, mo = "data-engineering", "modeling"
    # with labs by their exam day: e1 (lab-a M1+M2 on 1 Jan), e2 (M1 on 1 Feb), e3 (M1 by hand)
    run_with(ledger, "e1", "lab-a", ["d", "t"], datetime(2026, 1, 1, 9))
    run_with(ledger, "e2", "lab-a", ["d"], datetime(2026, 2, 1, 9))
    progress.mark_done(ledger, cat, engineer="e3", lab="lab-a", milestone=1,
                       now=datetime(2026, 2, 20, 12))  # fmt: skip
    run_with(ledger, "e6", "lab-a", ["d"], datetime(2026, 3, 2, 9))  # after the exam: without
    exam(ledger, cat, "e1", date(2026, 2, 1), 600, False)  # superseded by e1's later sitting
    exam(ledger, cat, "e1", date(2026, 3, 1), 800, True, **{de: 80, mo: 90})
    exam(ledger, cat, "e2", date(2026, 3, 1), 760, True, **{de: 70, mo: 70})
    exam(ledger, cat, "e3", date(2026, 3, 1), 650, False, **{de: 60, mo: 65})
    exam(ledger, cat, "e4", date(2026, 3, 1), 720, True, **{de: 50, mo: 60})
    exam(ledger, cat, "e5", date(2026, 3, 1), 600, False, **{de: 40})
    exam(ledger, cat, "e6", date(2026, 3, 1), 640, False, **{de: 60})
    with pytest.raises(UsageError, match="did you mean 'modeling'"):
        exam(ledger, cat, "e7", date(2026, 3, 1), 700, True, model=1)

    data = impact.report(ledger, cat)
    c1 = data["certifications"]["c1"]
    assert c1["engineers"] == 6
    # with: e1 800 pass, e2 760 pass, e3 650 fail -> 2/3, (800+760+650)/3 = 736.67
    assert c1["with_labs"] == {"engineers": 3, "passed": 2, "pass_rate": 0.6667,
                               "mean_score": 736.67}  # fmt: skip
    # without: e4 720 pass, e5 600 fail, e6 640 fail -> 1/3, (720+600+640)/3 = 653.33
    assert c1["without_labs"] == {"engineers": 3, "passed": 1, "pass_rate": 0.3333,
                                  "mean_score": 653.33}  # fmt: skip
    # data-engineering covered for e1-e3: (80+70+60)/3 = 70; not for e4-e6: (50+40+60)/3 = 50
    assert c1["domains"][de]["covered_by_labs"] == {"n": 3, "mean_score": 70.0}
    assert c1["domains"][de]["not_covered"] == {"n": 3, "mean_score": 50.0}
    # modeling covered only for e1 (one result: too few); not: e2 70, e3 65, e4 60 -> 65
    assert c1["domains"][mo]["covered_by_labs"]["mean_score"] is None
    assert "too few" in c1["domains"][mo]["covered_by_labs"]["note"]
    assert c1["domains"][mo]["not_covered"] == {"n": 3, "mean_score": 65.0}
    # days from first milestone to exam: e1 59, e2 28, e3 9 -> median 28
    assert c1["days_first_lab_to_exam"] == {"n": 3, "median": 28.0}
    assert data["certifications"].keys() == {"c1"}


def test_too_few_results_give_no_rate(db, cat):
    ledger = Ledger()
    exam(ledger, cat, "e1", date(2026, 3, 1), 800, True)
    exam(ledger, cat, "e2", date(2026, 3, 1), 500, False)
    c1 = impact.report(ledger, cat)["certifications"]["c1"]
    assert c1["without_labs"]["pass_rate"] is None
    assert c1["without_labs"]["mean_score"] is None
    assert c1["without_labs"]["note"] == "too few results to compare (2 < 3)"
    assert c1["with_labs"]["engineers"] == 0 and c1["with_labs"]["pass_rate"] is None


def test_reuse_counts_uses_clients_and_days_to_first_use(db, cat):
    ledger = Ledger()
    run_with(ledger, "e1", "lab-a", ["d"], datetime(2026, 1, 1, 9))
    run_with(ledger, "e2", "lab-a", [], datetime(2026, 2, 1, 9))  # no milestone: first run counts
    progress.mark_done(ledger, cat, engineer="e3", lab="lab-a", milestone=1,
                       now=datetime(2026, 2, 20, 12))  # fmt: skip
    for who, client, on in [
        ("e1", "acme", date(2026, 4, 1)),
        ("e2", "globex", date(2026, 3, 3)),
        ("e2", "acme", date(2026, 5, 1)),
        ("e3", "acme", date(2026, 3, 11)),
    ]:
        impact.record_reuse(ledger, cat, engineer=who, lab="lab-a", client=client, used_on=on)
    with pytest.raises(UsageError):
        impact.record_reuse(ledger, cat, engineer="e1", lab="lab-z", client="x",
                            used_on=date(2026, 1, 1))  # fmt: skip
    (lab,) = impact.report(ledger, cat)["reuse"]["labs"]
    # first uses: e1 90 days after 1 Jan, e2 30 after 1 Feb, e3 19 after 20 Feb -> median 30
    assert lab == {"lab": "lab-a", "uses": 4, "clients": ["acme", "globex"],
                   "engineers": ["e1", "e2", "e3"],
                   "days_to_first_use": {"n": 3, "median": 30.0}}  # fmt: skip


# --- scaffold and page --------------------------------------------------------------------------


def test_scaffold_writes_the_project_once_and_never_overwrites(home, tmp_path):
    cat = catalog.load()
    folder = tmp_path / "proj"
    first = scaffold(cat, "churn-pipeline", folder, engineer="ana", today=date(2026, 12, 1))
    readme = (folder / "README.md").read_text()
    for section in ("## Architecture", "## Milestones", "## Exam domains and topics",
                    "## Decisions", "## Commands"):  # fmt: skip
        assert section in readme
    assert "- [ ] 1. Data lake and ingestion" in readme and "4 h, est. $" in readme
    assert "labctl up churn-pipeline --milestone 1" in readme
    assert "Data Engineering (`data-engineering`, 20% of the exam): milestone 1" in readme
    written = {str(p) for p in first.written}
    assert {
        "README.md",
        ".gitignore",
        "src/xgboost_tabular.py",
        "terraform/main.tf.json",
    } <= written
    assert any(p.startswith("terraform/modules/aws/") for p in written)
    (folder / "README.md").write_text("my own notes\n")
    snapshot = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    second = scaffold(cat, "churn-pipeline", folder, engineer="bo", today=date(2027, 1, 1))
    assert second.written == [] and len(second.kept) == len(first.written)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == snapshot


def test_team_page_is_self_contained_and_shows_all_three(db, cat):
    ledger = Ledger()
    run_with(ledger, "e1", "lab-a", ["d"], datetime(2026, 1, 1, 9))
    exam(ledger, cat, "e1", date(2026, 3, 1), 800, True)
    spend = "<!doctype html><html><body><h1>Lab spend, 2026-03</h1></body></html>"
    html = page.team_page(spend, progress.report(ledger, cat, engineer=None,
                                                 now=datetime(2026, 3, 2)),
                          impact.report(ledger, cat))  # fmt: skip
    assert 'srcdoc="&lt;!doctype html&gt;' in html and "Lab spend, 2026-03" in html
    assert "<h2>Progress</h2>" in html and "<h2>Impact</h2>" in html
    assert "labctl up lab-a --milestone 2" in html
    assert "too few results" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_only_runs_up_to_a_lower_milestone_are_extended_in_place():
    from labctl.ledger import Run
    from labctl.orchestrator import _extendable

    def run(status: str, milestone: int | None) -> Run:
        return Run(status=status, outputs={"milestone": milestone} if milestone else {})

    up_to_1 = run("up", 1)
    assert _extendable([up_to_1], 2) is up_to_1
    assert _extendable([up_to_1], 1) is None  # nothing to add
    assert _extendable([up_to_1], None) is None  # the whole lab: a new run
    assert _extendable([run("up", None)], 2) is None  # already the whole lab
    assert _extendable([run("failed", 1)], 2) is None  # `down` it first
    assert _extendable([], 2) is None


def test_extending_prices_only_the_new_steps(cat):
    from labctl import cost
    from labctl.prices import PriceBook

    lab = milestones.through(cat.lab("lab-a"), "lab-a", 3)
    whole = cost.estimate(lab, "aws", None, PriceBook.load())
    added = milestones.only_steps(whole, {"ep"})
    assert [line.step for line in added.lines] == ["ep"]
    assert 0 < added.total_usd < whole.total_usd
