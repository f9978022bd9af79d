"""Everything labctl shows people: rich tables and panels. Scripts get JSON from the CLI instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from labctl.catalog import Catalog, Lab
    from labctl.cost import BudgetCheck, Estimate


def labs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} labs", title_justify="left")
    for col in ("name", "title", "cloud", "certs", "hours", "domains"):
        table.add_column(col, overflow="fold", no_wrap=col == "name")
    for r in rows:
        hours = r["hours"]
        table.add_row(
            r["name"],
            r["title"],
            r["cloud"],
            ", ".join(r["certs"]),
            f"{hours['min']}-{hours['max']}",
            ", ".join(d.split("/", 1)[1] for d in r["domains"]),
        )
    return table


def show_lab(console: Console, name: str, lab: Lab, cat: Catalog) -> None:
    console.print(f"[bold]{name}[/]: {escape(lab.title)}  [dim]({lab.cloud}, {lab.hours} h)[/]")
    console.print(lab.summary, markup=False)
    console.print("\n[bold]Architecture[/]")
    for line in lab.architecture:
        console.print(f"  {line}", markup=False)
    console.print("\n[bold]Exam domains[/]")
    for cert, domains in lab.domains.items():
        titles = {d.id: d.title for d in cat.certifications[cert].domains}
        console.print(f"  {cert}: " + "; ".join(titles.get(d, d) for d in domains), markup=False)
    console.print("\n[bold]Services[/]  " + escape(", ".join(lab.services)))
    console.print(
        f"[bold]Dataset[/]  {escape(f'{lab.dataset.name} (offline: {lab.dataset.offline})')}"
    )
    steps = Table(title="Steps", title_justify="left")
    for col in ("step", "kind", "what", "instance", "count"):
        steps.add_column(col, overflow="fold")
    for s in lab.steps:
        steps.add_row(s.name, s.kind, _step_what(s), getattr(s, "instance_type", "") or "",
                      str(getattr(s, "instance_count", "") or ""))  # fmt: skip
    console.print(steps)
    miles = Table(title="Milestones (one 3-5 h session each)", title_justify="left")
    for col in ("#", "milestone", "hours", "steps"):
        miles.add_column(col, overflow="fold")
    for i, m in enumerate(lab.milestones, 1):
        miles.add_row(str(i), m.title, f"{m.hours:g}", ", ".join(m.steps))
    console.print(miles)
    console.print("[bold]Outcomes[/]")
    for o in lab.outcomes:
        console.print(f"  - {o}", markup=False)


def _step_what(step: Any) -> str:
    match step.kind:
        case "data":
            return f"{step.generator}, {step.rows:,} rows locally"
        case "train":
            spot = ", spot" if step.spot else ""
            return f"{step.algorithm}{spot}; {step.metric.name}"
        case "tune":
            return (
                f"{step.strategy} over {', '.join(step.ranges)}; {step.max_jobs} jobs, "
                f"{step.max_parallel_jobs} parallel"
            )
        case "deploy":
            what = f"endpoint for {step.model}"
            if step.variants:
                what += "; A/B " + "/".join(f"{v.name}:{v.weight:g}" for v in step.variants)
            if step.autoscaling:
                a = step.autoscaling
                what += f"; autoscaling {a.min_instances}-{a.max_instances}"
            return what
        case "batch":
            return f"batch inference with {step.model}"
        case "monitor":
            return f"{', '.join(step.checks)} on {step.endpoint}, {step.schedule}"
        case "pipeline":
            return "retraining pipeline: " + " -> ".join(step.steps)
        case "service":
            return step.service + (" (optional)" if step.optional else "")
    return ""


def certs_view(cat: Catalog) -> list[dict[str, Any]]:
    """Each certification, its domains with weights, and the labs that cover each domain."""
    out = []
    for cid, cert in cat.certifications.items():
        domains = []
        for d in cert.domains:
            labs = [n for n, lab in cat.labs.items() if d.id in lab.domains.get(cid, [])]
            domains.append({"id": d.id, "title": d.title, "weight": d.weight, "labs": labs})
        out.append(
            {"id": cid, "title": cert.title, "vendor": cert.vendor, "exam": cert.exam,
             "domains": domains, "uncovered": [d["id"] for d in domains if not d["labs"]]}
        )  # fmt: skip
    return out


def certs_table(view: list[dict[str, Any]]) -> Table:
    table = Table(title="Certifications and lab coverage", title_justify="left", show_lines=True)
    for col in ("cert", "domain", "weight", "labs"):
        table.add_column(col, overflow="fold")
    for cert in view:
        for i, d in enumerate(cert["domains"]):
            weight = f"{d['weight']:g}%" if d["weight"] is not None else "-"
            labs = ", ".join(d["labs"]) or "[red]not covered[/]"
            table.add_row(f"{cert['id']}\n[dim]{cert['exam'] or ''}[/]" if i == 0 else "",
                          d["title"], weight, labs)  # fmt: skip
    return table


def money(value: float | None, digits: int = 2) -> str:
    return "unpriced" if value is None else f"${value:,.{digits}f}"


def estimate_table(e: Estimate) -> Table:
    equivalent = " (cloud-equivalent; the local target costs $0)" if e.target == "local" else ""
    table = Table(title=f"Estimate: {e.cloud} prices, {e.region}{equivalent}", title_justify="left")
    for col in ("step", "kind", "instance", "count", "hours", "$/h each", "cost", "note"):
        table.add_column(
            col, overflow="fold", justify="right" if col in ("count", "hours") else "left"
        )
    for line in e.lines:
        table.add_row(line.step, line.kind, line.instance_type, str(line.count), f"{line.hours:g}",
                      money(line.usd_per_hour, 3), money(line.usd), line.note)  # fmt: skip
    table.add_section()
    table.add_row("total", "", "", "", "", "", f"[bold]{money(e.equivalent_usd)}[/]", "")
    if e.unpriced:
        table.caption = "could not price: " + "; ".join(e.unpriced)
    return table


def budget_line(b: BudgetCheck) -> str:
    pct = b.after_usd / b.budget_usd * 100 if b.budget_usd else 0
    colour = "red" if b.over else "yellow" if pct >= 75 else "green"
    return (
        f"budget {b.engineer}: spent {money(b.spent_usd)} + estimate {money(b.estimate_usd)} = "
        f"[{colour}]{money(b.after_usd)}[/] of {money(b.budget_usd)} ({pct:.0f}%)"
    )


def status_table(runs: list[dict[str, Any]]) -> Table:
    """One row per resource, grouped by run, so URLs and statuses stay on one line."""
    table = Table(title="What is up", title_justify="left")
    for col in ("lab", "engineer", "target", "age", "resource", "status", "$/h"):
        table.add_column(col, overflow="fold")
    for r in runs:
        equiv = " (cloud-equiv.)" if r["cloud_equivalent"] else ""
        head = [r["lab"], r["engineer"], r["target"], _age(r["age_seconds"])]
        for i, x in enumerate(r["resources"] or [{"kind": "-", "name": "", "status": r["status"]}]):
            what = f"{x['kind']} {x.get('url') or x['name']}"
            burn = f"{x['usd_per_hour']:.3f}" if x.get("usd_per_hour") else ""
            table.add_row(*(head if i == 0 else [""] * 4), what, x["status"], burn)
        for step, run in tracked_runs(r).items():
            table.add_row("", "", "", "", f"mlflow {step}", _mlflow_line(run), "")
        total = f"[bold]{r['burn_usd_per_hour']:.3f}{equiv}[/]"
        stop = f", autostop {r['autostop_at'][11:16]} UTC" if r.get("autostop_at") else ""
        table.add_row("", "", "", "", f"[bold]run {r['run']}[/]", r["status"] + stop, total,
                      end_section=True)  # fmt: skip
    return table


def tracked_runs(run_view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The MLflow runs of a run view: its `tracking` (step -> the job's tracking attrs), and any
    resource carrying `tracking`."""
    found = dict(run_view.get("tracking") or {})
    for x in run_view.get("resources", []):
        if x.get("tracking"):
            found.setdefault(x["name"], x["tracking"])
    return {k: v for k, v in found.items() if isinstance(v, dict) and v.get("mlflow_run_id")}


def _mlflow_line(tracking: dict[str, Any]) -> str:
    line = f"run {tracking['mlflow_run_id']} (experiment {tracking.get('mlflow_experiment_id')})"
    model = tracking.get("registered_model")
    if model:
        line += f", model {model['name']} v{model['version']}"
    return line


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
