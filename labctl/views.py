"""Everything labctl shows people: tables and panels. Scripts get JSON (or CSV) from the CLI.

Every table goes through `print_table`: in a terminal a rich table whose identifier, URL, path,
instance type, region and money columns never fold or truncate (only free-text columns fold);
through a pipe plain whitespace-aligned columns, no box drawing, no colour, as kubectl prints them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from labctl.catalog import Catalog, Lab
    from labctl.cost import BudgetCheck, Estimate


# --- the one table printer ---------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column. `fold`: free text that may fold in a narrow terminal; every other column
    (identifiers, URLs, paths, instance types, regions, money) keeps each value on one line."""

    name: str
    fold: bool = False
    right: bool = False


Cell = str | Text
SECTION: tuple[Cell, ...] = ()  # a row that only draws a rule (terminal) and is skipped in pipes
FOLD_MIN = 12  # the narrowest a free-text column gets before the table is allowed to overflow


def print_table(
    console: Console,
    columns: Sequence[Col],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
    caption: str | None = None,
    headers: bool = True,
    plain: bool | None = None,
    keep_title: bool = False,
) -> None:
    """Print rows under columns: a rich table on a terminal, aligned plain text otherwise
    (`plain=None`: decided by whether `console` writes to a terminal). Cells are printed as
    written (never parsed as markup); a `Text` cell may carry a style. A cell with newlines spans
    several lines. In plain output the title is left out (unless `keep_title`: a table that is
    not a listing) and the caption goes to stderr."""
    rows = list(rows)
    if plain is None:
        plain = not console.is_terminal
    if plain:
        if title and keep_title:
            console.file.write(title + "\n")
        _print_plain(console, columns, rows, headers)
        if caption:
            from rich.console import Console as _Console

            _Console(stderr=True, highlight=False, no_color=True).print(caption, markup=False)
        return
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  show_header=headers)  # fmt: skip
    need = 1
    for i, col in enumerate(columns):
        values = [_plain(r[i]) for r in rows if r]
        widest = max((len(line) for v in values for line in v.split("\n")), default=0)
        widest = max(widest, len(col.name) if headers else 0)
        if col.fold:
            table.add_column(col.name, overflow="fold", justify="right" if col.right else "left")
            need += min(widest, FOLD_MIN) + 3
        else:
            table.add_column(col.name, no_wrap=True, min_width=widest,
                             justify="right" if col.right else "left")  # fmt: skip
            need += widest + 3
    for r in rows:
        if not r:
            table.add_section()
            continue
        table.add_row(*(c if isinstance(c, Text) else Text(c) for c in r))
    # identifiers never shrink: a table that cannot fit is drawn wider than the terminal (which
    # then wraps whole lines, so each value still reads and copies as one piece)
    width = console.width
    console.width = max(width, need)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _print_plain(
    console: Console, columns: Sequence[Col], rows: list[Sequence[Cell]], headers: bool
) -> None:
    lines = [[c.name.upper().replace(" ", "_") for c in columns]] if headers else []
    for r in rows:
        if not r:
            continue
        cells = [_plain(c).split("\n") for c in r]
        for k in range(max(len(c) for c in cells)):
            lines.append([c[k] if k < len(c) else "" for c in cells])
    widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(columns))]
    out = console.file
    for line in lines:
        cells = [
            v.rjust(w) if col.right else v.ljust(w)
            for v, w, col in zip(line, widths, columns, strict=True)
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    out.flush()


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header row; lists become ';'-joined values."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(
            [";".join(map(str, v)) if isinstance(v, list) else v for v in (r[c] for c in columns)]
        )
    return buf.getvalue()


# --- the catalog --------------------------------------------------------------------------------

LIST_COLUMNS = (Col("name"), Col("cloud"), Col("certs"), Col("hours", right=True),
                Col("local"), Col("$/session", right=True))  # fmt: skip
LIST_WIDE = (Col("title", fold=True), Col("steps"), Col("domains", fold=True))


def labs_rows(rows: list[dict[str, Any]], *, wide: bool = False) -> list[list[Cell]]:
    """`labctl list` rows: the compact columns, and with `wide` the title, steps and domains."""
    out: list[list[Cell]] = []
    for r in rows:
        hours = r["hours"]
        local = r.get("runs_locally")
        cells: list[Cell] = [
            r["name"], r["cloud"], ",".join(r["certs"]), f"{hours['min']}-{hours['max']}",
            "yes" if local else "no" if local is not None else "?",
            money(r.get("session_usd")),
        ]  # fmt: skip
        if wide:
            cells += [r["title"], ",".join(r["steps"]),
                      ", ".join(d.split("/", 1)[1] for d in r["domains"])]  # fmt: skip
        out.append(cells)
    return out


def print_labs(console: Console, rows: list[dict[str, Any]], *, wide: bool = False,
               headers: bool = True) -> None:  # fmt: skip
    columns = LIST_COLUMNS + (LIST_WIDE if wide else ())
    print_table(console, columns, labs_rows(rows, wide=wide), title=f"{len(rows)} labs",
                headers=headers)  # fmt: skip


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
    print_table(
        console,
        (
            Col("step"),
            Col("kind"),
            Col("what", fold=True),
            Col("instance"),
            Col("count", right=True),
        ),
        [
            [
                s.name,
                s.kind,
                _step_what(s),
                getattr(s, "instance_type", "") or "",
                str(getattr(s, "instance_count", "") or ""),
            ]
            for s in lab.steps
        ],
        title="Steps",
        keep_title=True,
    )
    print_table(
        console,
        (
            Col("#", right=True),
            Col("milestone", fold=True),
            Col("hours", right=True),
            Col("steps", fold=True),
        ),
        [
            [str(i), m.title, f"{m.hours:g}", ", ".join(m.steps)]
            for i, m in enumerate(lab.milestones, 1)
        ],
        title="Milestones (one 3-5 h session each)",
        keep_title=True,
    )
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


def print_certs(console: Console, view: list[dict[str, Any]], *, headers: bool = True) -> None:
    rows: list[Sequence[Cell]] = []
    for cert in view:
        for d in cert["domains"]:
            weight = f"{d['weight']:g}%" if d["weight"] is not None else "-"
            labs = ",".join(d["labs"]) or Text("not covered", style="red")
            rows.append([cert["id"], d["id"].split("/", 1)[-1], weight, labs, d["title"]])
        rows.append(SECTION)
    print_table(console, (Col("cert"), Col("domain"), Col("weight", right=True), Col("labs"),
                          Col("title", fold=True)), rows,
                title="Certifications and lab coverage", headers=headers)  # fmt: skip


def money(value: float | None, digits: int = 2) -> str:
    return "unpriced" if value is None else f"${value:,.{digits}f}"


def print_estimate(console: Console, e: Estimate) -> None:
    equivalent = " (cloud-equivalent; the local target costs $0)" if e.target == "local" else ""
    rows: list[Sequence[Cell]] = [
        [
            line.step,
            line.kind,
            line.instance_type,
            str(line.count),
            f"{line.hours:g}",
            # a line priced per run or per GB (its note says how) has no hourly rate
            "-"
            if line.usd_per_hour is None and line.usd is not None
            else money(line.usd_per_hour, 3),
            money(line.usd),
            line.note,
        ]
        for line in e.lines
    ]
    rows += [SECTION, ["total", "", "", "", "", "", Text(money(e.equivalent_usd), "bold"), ""]]
    print_table(
        console,
        (
            Col("step"),
            Col("kind"),
            Col("instance"),
            Col("count", right=True),
            Col("hours", right=True),
            Col("$/h each", right=True),
            Col("cost", right=True),
            Col("note", fold=True),
        ),
        rows,
        title=f"Estimate: {e.cloud} prices, {e.region}{equivalent}",
        caption="could not price: " + "; ".join(e.unpriced) if e.unpriced else None,
        keep_title=True,
    )
    if e.deadline is not None:  # the deadline the endpoints are priced to (labctl.autostop)
        console.print(e.deadline.describe(), markup=False, soft_wrap=True)


def budget_line(b: BudgetCheck) -> str:
    pct = b.after_usd / b.budget_usd * 100 if b.budget_usd else 0
    colour = "red" if b.over else "yellow" if pct >= 75 else "green"
    return (
        f"budget {b.engineer}: spent {money(b.spent_usd)} + estimate {money(b.estimate_usd)} = "
        f"[{colour}]{money(b.after_usd)}[/] of {money(b.budget_usd)} ({pct:.0f}%)"
    )


def print_status(console: Console, runs: list[dict[str, Any]], *, headers: bool = True) -> None:
    """One row per resource, grouped by run, so URLs and statuses stay on one line."""
    rows: list[Sequence[Cell]] = []
    for r in runs:
        equiv = " (cloud-equiv.)" if r["cloud_equivalent"] else ""
        head = [r["lab"], r["engineer"], r["target"], _age(r["age_seconds"])]
        for i, x in enumerate(r["resources"] or [{"kind": "-", "name": "", "status": r["status"]}]):
            what = f"{x['kind']} {x.get('url') or x['name']}"
            burn = f"{x['usd_per_hour']:.3f}" if x.get("usd_per_hour") else ""
            rows.append([*(head if i == 0 else [""] * 4), what, x["status"], burn])
        for step, run in tracked_runs(r).items():
            rows.append(["", "", "", "", f"mlflow {step}", _mlflow_line(run), ""])
        for step, outputs in (r.get("outputs") or {}).items():
            for name, out in outputs.items():
                shown = f"{out['file']} ({out['rows']:,} rows)" if isinstance(out, dict) else out
                rows.append(["", "", "", "", f"output {step} {name}", str(shown), ""])
        total = Text(f"{r['burn_usd_per_hour']:.3f}{equiv}", "bold")
        stop = f", autostop {r['autostop_at'][11:16]} UTC" if r.get("autostop_at") else ""
        stop += f", {money(r['cost_usd'])} so far" if r.get("cost_usd") is not None else ""
        if r.get("milestone"):
            stop = f", milestones 1-{r['milestone']}{stop}"
        run_cell = Text(f"run {r['run']}", "bold")
        rows += [["", "", "", "", run_cell, r["status"] + stop, total], SECTION]
    print_table(
        console,
        (
            Col("lab"),
            Col("engineer"),
            Col("target"),
            Col("age", right=True),
            Col("resource"),
            Col("status"),
            Col("$/h", right=True),
        ),
        rows,
        title="What is up",
        headers=headers,
    )


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


def print_run_costs(console: Console, runs: list[dict[str, Any]]) -> None:
    """What each run `down` ended cost (labctl.run_cost): the ledger's figure, and the bill's
    where `labctl cost sync` covers the run."""
    rows: list[Sequence[Cell]] = []
    for r in runs:
        billed = (
            f"{money(r['billed_usd'])} (through {r['billed_through']})"
            if r["billed_usd"] is not None
            else "$0 (local)"
            if r["cloud_equivalent"]
            else "not synced"
        )
        estimated = money(r["estimated_usd"]) + (" cloud-equiv." if r["cloud_equivalent"] else "")
        rows.append([r["lab"], r["target"], r["engineer"], r["run"], f"{r['hours']:.2f}",
                     money(r["planned_usd"]) if r["planned_usd"] is not None else "-",
                     estimated, billed])  # fmt: skip
    print_table(
        console,
        (Col("lab"), Col("target"), Col("engineer"), Col("run"), Col("hours", right=True),
         Col("planned", right=True), Col("cost (ledger)", right=True), Col("billed")),
        rows,
        title="What each run cost",
        keep_title=True,
    )  # fmt: skip
