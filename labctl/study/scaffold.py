"""`labctl scaffold LAB [DIR]`: the engineer's own project folder for a lab.

A README (architecture, milestones as a checklist with hours and estimated cost, exam domains and
topics, a decisions log, the commands), the lab's entry-point scripts and its rendered Terraform
as a starting point, and a `.gitignore`. A file that exists is never overwritten, so a second run
changes nothing.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from labctl.catalog import Catalog, Lab, TrainStep
from labctl.errors import LabctlError
from labctl.study.milestones import milestone_domains

GITIGNORE = """\
# labctl project: keep state, data and secrets out of git
.terraform/
*.tfstate
*.tfstate.*
.terraform.lock.hcl
*.tfvars
data/
model/
output/
__pycache__/
.venv/
.ipynb_checkpoints/
.env
"""


@dataclass
class Scaffold:
    directory: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # already there: left as they were


def milestone_costs(lab: Lab) -> tuple[list[str], str]:
    """Per milestone, its estimated cost as text, and what the estimate prices at.

    One estimate of the whole lab (cost.estimate), its lines summed per milestone; a step listed
    by two milestones counts in the first. Steps the estimate has no line for (service steps,
    today) are named as not priced rather than counted as $0.
    """
    from labctl import cost
    from labctl.prices import PriceBook

    estimate = cost.estimate(lab, lab.cloud, None, PriceBook.load())
    by_step: dict[str, float | None] = {}
    for line in estimate.lines:
        known = by_step.get(line.step, 0.0)
        by_step[line.step] = None if known is None or line.usd is None else known + line.usd
    seen: set[str] = set()
    costs: list[str] = []
    for m in lab.milestones:
        total, unpriced = 0.0, []
        for step in m.steps:
            if step in seen:
                continue
            seen.add(step)
            usd = by_step.get(step)
            if usd is None and (step in by_step or lab.step(step).kind == "service"):
                unpriced.append(step)
            total += usd or 0.0
        text = f"est. ${total:,.2f}"
        costs.append(text + (f" + {', '.join(unpriced)} not priced" if unpriced else ""))
    basis = f"{estimate.cloud} list prices in {estimate.region}, endpoints for one study session"
    return costs, basis


def entry_point_files(lab: Lab) -> dict[str, Path]:
    """Train step -> the file of the script labctl runs for it (when labctl ships one)."""
    from labctl.entrypoints import BUILT_IN

    found: dict[str, Path] = {}
    for step in lab.steps:
        if not isinstance(step, TrainStep):
            continue
        module = (
            f"labctl.entrypoints.{step.entry_point}"
            if step.entry_point
            else getattr(BUILT_IN.get(step.algorithm), "module", None)
        )
        spec = importlib.util.find_spec(module) if module else None
        if spec and spec.origin:
            found[step.name] = Path(spec.origin)
    return found


def commands(name: str) -> list[str]:
    """The commands of a lab's life, each with what it does."""
    pairs = [
        (f"labctl plan {name}", "rendered Terraform, cost estimate, budget check"),
        (f"labctl up {name} --milestone 1", "milestones 1..N only"),
        (f"labctl up {name} --target local", "the whole lab on this machine, $0"),
        ("labctl status", "what is up and what it burns per hour"),
        (f"labctl done {name} --milestone 1", "a milestone done by hand"),
        ("labctl progress", "milestones, hours and exam-domain coverage"),
        (f"labctl down {name}", "tear it all down"),
    ]
    width = max(len(c) for c, _ in pairs) + 2
    return [f"{c:<{width}}# {why}" for c, why in pairs]


def readme(cat: Catalog, name: str, *, engineer: str, today: date) -> str:
    lab = cat.lab(name)
    costs, basis = milestone_costs(lab)
    credited = milestone_domains(lab)
    scripts = entry_point_files(lab)
    out = [f"# {lab.title}", "", lab.summary, ""]
    out += [
        f"My project for the labctl lab `{name}` (native cloud: {lab.cloud}; {lab.hours} hours "
        f"in {len(lab.milestones)} milestones), started by {engineer} on {today:%Y-%m-%d}.",
        "",
        "## Architecture",
        "",
        *(f"- {line}" for line in lab.architecture),
        "",
        f"Services: {', '.join(lab.services)}.",
        "",
        f"Dataset: {lab.dataset.name} (offline: {lab.dataset.offline}).",
        "",
        "## Milestones",
        "",
        "One study session each; tick them off here, and `labctl done "
        f"{name} --milestone N` records work done by hand.",
        "",
    ]
    for i, (m, price) in enumerate(zip(lab.milestones, costs, strict=True), 1):
        steps = f"; steps: {', '.join(m.steps)}" if m.steps else ""
        out.append(f"- [ ] {i}. {m.title} ({m.hours:g} h, {price}{steps})")
    out += ["", f"Estimates: {basis}; the local target costs $0. `labctl plan {name}` prices "
            "your own run.", "", "## Exam domains and topics", ""]  # fmt: skip
    for cert_id, domain_ids in lab.domains.items():
        cert = cat.certifications[cert_id]
        out += [f"### {cert.title}" + (f" ({cert.exam})" if cert.exam else ""), ""]
        for d in cert.domains:
            if d.id not in domain_ids:
                continue
            weight = f", {d.weight:g}% of the exam" if d.weight is not None else ""
            where = [str(i) for i, ds in enumerate(credited, 1) if f"{cert_id}/{d.id}" in ds]
            label = "milestone" if len(where) == 1 else "milestones"
            out.append(f"- {d.title} (`{d.id}`{weight}): {label} {', '.join(where)}")
        out.append("")
    out += ["Topics covered:", "", *(f"- {o}" for o in lab.outcomes), ""]
    out += [
        "## Decisions",
        "",
        "A log of the design decisions, newest last: what was decided, what else was "
        "considered, and why.",
        "",
        "| Date | Decision | Alternatives considered | Why |",
        "|------|----------|-------------------------|-----|",
        "|      |          |                         |     |",
        "",
        "## Commands",
        "",
        "```sh",
        *commands(name),
        "```",
        "",
        "## Starting points",
        "",
        *(
            f"- `src/{path.name}`: the script labctl runs for step `{step}` (SageMaker training "
            "contract: `python -m labctl.entrypoints." + path.stem + "`)"
            for step, path in scripts.items()
        ),
        f"- `terraform/`: the root module labctl renders for this lab on {lab.cloud} "
        f"(`labctl render {name} --target {lab.cloud} --out DIR`), with its module in "
        "`terraform/modules/`",
        "",
    ]
    return "\n".join(out)


def scaffold(
    cat: Catalog, name: str, directory: Path, *, engineer: str, today: date,
    catalog: str | None = None,
) -> Scaffold:  # fmt: skip
    """Write the project folder; files that exist are kept as they are."""
    from labctl import orchestrator

    lab = cat.lab(name)
    result = Scaffold(directory)
    files: dict[Path, bytes] = {
        Path("README.md"): readme(cat, name, engineer=engineer, today=today).encode(),
        Path(".gitignore"): GITIGNORE.encode(),
    }
    for path in dict.fromkeys(entry_point_files(lab).values()):
        files[Path("src") / path.name] = path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "terraform"
        orchestrator.render(name, target=lab.cloud, engineer=engineer, out=rendered,
                            catalog=catalog)  # fmt: skip
        for path in sorted(p for p in rendered.rglob("*") if p.is_file()):
            files[Path("terraform") / path.relative_to(rendered)] = path.read_bytes()
    for rel, content in files.items():
        target = directory / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as fh:  # exclusive: never overwrite
                fh.write(content)
            result.written.append(rel)
        except FileExistsError:
            result.kept.append(rel)
        except OSError as exc:
            raise LabctlError(
                f"cannot write {target}: {exc.strerror or exc}",
                hint="name another folder: `labctl scaffold LAB DIR`",
            ) from None
    return result
