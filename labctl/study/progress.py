"""Progress per engineer: milestones done, hours, exam-domain coverage, what to do next.

A milestone is done when an `up` recorded a result for each of its steps (a step the target
skipped, e.g. a cloud-only service on the local target, counts: the run went through it), or when
the engineer marked it (`labctl done LAB --milestone N`).

Coverage of an exam domain by one lab = the hours of its milestones crediting that domain
(`milestones.milestone_domains`) that are done, over the hours of all of them; an engineer's
coverage of a domain is the best over the labs that cover it (0..1). A certification's coverage
weighs its domains by their published exam weights (equally when it publishes none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from labctl.catalog import Catalog, Lab
from labctl.ledger import Ledger, Run, utcnow
from labctl.study import milestones as ms
from labctl.study.models import MilestoneMark, all_rows


@dataclass(frozen=True)
class Done:
    """A milestone done: when, and how (a run's id, or 'hand')."""

    lab: str
    milestone: int  # 1-based
    on: datetime
    how: str


Progress = dict[str, dict[int, Done]]  # lab -> milestone -> its earliest Done


def runs(ledger: Ledger, engineer: str | None = None) -> list[Run]:
    """Every run in the ledger (ended ones too), oldest first."""
    q = select(Run).order_by(Run.created_at)
    if engineer is not None:
        q = q.where(Run.engineer == engineer)
    with ledger.session() as s:
        return list(s.scalars(q))


def done_by_engineer(
    ledger: Ledger, cat: Catalog, engineer: str | None = None
) -> dict[str, Progress]:
    """Per engineer, the milestones done (by a run's step results or by hand), earliest first."""
    found: dict[str, Progress] = {}

    def add(who: str, d: Done) -> None:
        labs = found.setdefault(who, {}).setdefault(d.lab, {})
        if d.milestone not in labs or d.on < labs[d.milestone].on:
            labs[d.milestone] = d

    for run in runs(ledger, engineer):
        lab = cat.labs.get(run.lab)
        if lab is None:
            continue
        found.setdefault(run.engineer, {})
        completed = set((run.outputs or {}).get("steps", {}))
        for n in ms.done_by_steps(lab, completed):
            add(run.engineer, Done(run.lab, n, run.created_at, run.id))
    for mark in all_rows(ledger, MilestoneMark, engineer):
        if mark.lab in cat.labs:
            add(mark.engineer, Done(mark.lab, mark.milestone, mark.at, "hand"))
    return found


def lab_coverage(lab: Lab, done: set[int]) -> dict[str, float]:
    """Qualified domain id -> the share (0..1, by hours) of the lab's milestones crediting it
    that are in `done` (1-based numbers)."""
    total: dict[str, float] = {}
    got: dict[str, float] = {}
    credited = ms.milestone_domains(lab)
    for i, (m, domains) in enumerate(zip(lab.milestones, credited, strict=True), 1):
        for q in domains:
            total[q] = total.get(q, 0.0) + m.hours
            if i in done:
                got[q] = got.get(q, 0.0) + m.hours
    return {q: got.get(q, 0.0) / h for q, h in total.items() if h}


def coverage(
    cat: Catalog, progress: Progress, until: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Per certification: each domain's coverage (0..1) and the exam-weighted total, counting
    only milestones done by `until` when given."""
    best: dict[str, float] = {}
    for name, done in progress.items():
        numbers = {n for n, d in done.items() if until is None or d.on <= until}
        for q, share in lab_coverage(cat.labs[name], numbers).items():
            best[q] = max(best.get(q, 0.0), share)
    out: dict[str, dict[str, Any]] = {}
    for cert_id, cert in cat.certifications.items():
        domains = {d.id: round(best.get(f"{cert_id}/{d.id}", 0.0), 4) for d in cert.domains}
        weights = {d.id: d.weight if d.weight is not None else 1.0 for d in cert.domains}
        weighted = sum(weights[d] * c for d, c in domains.items()) / (sum(weights.values()) or 1)
        out[cert_id] = {"weighted": round(weighted, 4), "domains": domains}
    return out


def next_milestone(cat: Catalog, progress: Progress, now: datetime) -> dict[str, Any] | None:
    """The first undone milestone of some lab that adds the most weighted coverage, summed over
    the certifications the engineer has started (all of them before any progress)."""
    before = coverage(cat, progress)
    focus = [c for c, v in before.items() if v["weighted"] > 0] or list(before)
    best: dict[str, Any] | None = None
    for name, lab in cat.labs.items():
        done = progress.get(name, {})
        n = next((i for i in range(1, len(lab.milestones) + 1) if i not in done), None)
        if n is None:
            continue
        trial = {**progress, name: {**done, n: Done(name, n, now, "trial")}}
        after = coverage(cat, trial)
        gains = {c: round(after[c]["weighted"] - before[c]["weighted"], 4) for c in focus}
        gain = round(sum(gains.values()), 4)
        if gain > 0 and (best is None or gain > best["gain"]):
            m = lab.milestones[n - 1]
            best = {
                "lab": name,
                "milestone": n,
                "title": m.title,
                "hours": m.hours,
                "gain": gain,
                "gain_by_cert": {c: g for c, g in gains.items() if g > 0},
                "command": f"labctl up {name} --milestone {n}",
            }
    return best


def report(
    ledger: Ledger, cat: Catalog, *, engineer: str | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per engineer (one, or everyone in the ledger when None): labs and milestones done, hours
    (`run_hours`: the ledger's runs, start to end or now; `milestone_hours`: the catalog's
    hours of the milestones done), coverage per certification and the best next milestone."""
    now = now or utcnow()
    found = done_by_engineer(ledger, cat, engineer)
    if engineer is not None:
        found.setdefault(engineer, {})
    hours: dict[tuple[str, str], float] = {}
    for run in runs(ledger, engineer):
        end = run.ended_at or now
        key = (run.engineer, run.lab)
        hours[key] = hours.get(key, 0.0) + max((end - run.created_at).total_seconds(), 0) / 3600
    entries = []
    for who in sorted(found):
        progress = found[who]
        labs = []
        for name in sorted(set(progress) | {lab for (e, lab) in hours if e == who}):
            lab = cat.labs.get(name)
            done = progress.get(name, {})
            labs.append(
                {
                    "lab": name,
                    "milestones": len(lab.milestones) if lab else None,
                    "milestones_done": sorted(done),
                    "marked_by_hand": sorted(n for n, d in done.items() if d.how == "hand"),
                    "done": bool(lab) and len(done) == len(lab.milestones),
                    "run_hours": round(hours.get((who, name), 0.0), 2),
                    "milestone_hours": sum(lab.milestones[n - 1].hours for n in done) if lab else 0,
                }
            )
        entries.append(
            {
                "engineer": who,
                "labs_done": sum(entry["done"] for entry in labs),
                "milestones_done": sum(len(entry["milestones_done"]) for entry in labs),
                "run_hours": round(sum(entry["run_hours"] for entry in labs), 2),
                "milestone_hours": sum(entry["milestone_hours"] for entry in labs),
                "labs": labs,
                "coverage": coverage(cat, progress),
                "next": next_milestone(cat, progress, now),
            }
        )
    return entries


def mark_done(
    ledger: Ledger, cat: Catalog, *, engineer: str, lab: str, milestone: int,
    now: datetime | None = None,
) -> str:  # fmt: skip
    """Record a milestone the engineer finished by hand (at `now`); returns its title."""
    from labctl.study.models import add

    spec = cat.lab(lab)
    ms.check_number(spec, lab, milestone)
    add(ledger, MilestoneMark(engineer=engineer, lab=lab, milestone=milestone, at=now or utcnow()))
    return spec.milestones[milestone - 1].title
