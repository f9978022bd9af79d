"""The cost report in three forms for people: a terminal table, CSV, and a self-contained page."""

from __future__ import annotations

import csv
import html as html_mod
import io
from typing import Any

LEVEL_COLOUR = {"ok": "green", "50": "yellow", "75": "dark_orange", "100": "red"}
LEVEL_HEX = {"ok": "#2e7d32", "50": "#f9a825", "75": "#ef6c00", "100": "#c62828"}


def print_report(console: Any, data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Spend {data['month']} (USD)", title_justify="left", show_lines=True)
    for col in ("engineer", "budget", "spent", "billed", "closed", "running", "burn $/h",
                "forecast", "%", "level", "labs"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("engineer", "labs") else "right")
    for e in data["engineers"]:
        colour = LEVEL_COLOUR[e["level"]]
        labs = "\n".join(_lab_line(lab) for lab in e["labs"])
        table.add_row(
            e["engineer"], f"{e['budget_usd']:,.2f}", f"{e['spent_usd']:,.2f}",
            f"{e['spent_actual_usd']:,.2f}", f"{e['closed_usd']:,.2f}", f"{e['running_usd']:,.2f}",
            f"{e['burn_usd_per_hour']:,.3f}", f"{e['forecast_usd']:,.2f}",
            f"[{colour}]{e['percent']:.0f}%[/]", f"[{colour}]{e['level']}[/]", labs,
        )  # fmt: skip
    table.add_section()
    table.add_row("total", f"{data['total_budget_usd']:,.2f}", f"{data['total_spent_usd']:,.2f}",
                  f"{data['total_spent_actual_usd']:,.2f}")  # fmt: skip
    table.caption = "\n".join(captions(data))
    console.print(table)


def captions(data: dict[str, Any]) -> list[str]:
    """Which figures are billed and which estimated, and what was left out."""
    billed = data.get("billed_through") or {}
    lines = [
        "billed: the clouds' bills (`labctl cost sync`) through "
        + ", ".join(f"{t} {day}" for t, day in billed.items())
        + "; closed/running: ledger estimates for the days after"
        if billed
        else "all figures are ledger estimates (`labctl cost sync` reads the bills)"
    ]
    if data["unpriced_resources"]:
        lines.append(f"{data['unpriced_resources']} resource(s) had no price: not counted")
    return lines


def _lab_line(lab: dict[str, Any]) -> str:
    name = f"{lab['lab'] or '(no lab tag)'} ({lab['target']}): "
    if lab["target"] == "local":
        return name + f"$0 (cloud-equiv. ${lab['cloud_equivalent_usd']:,.2f})"
    billed = f", ${lab['spent_actual_usd']:,.2f} billed" if lab["spent_actual_usd"] else ""
    return name + f"${lab['spent_usd']:,.2f}{billed}"


def csv_text(data: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["month", "engineer", "budget_usd", "spent_usd", "percent", "level", "lab",
                     "target", "lab_spent_usd", "cloud_equivalent_usd", "spent_actual_usd",
                     "spent_estimated_usd", "lab_spent_actual_usd"])  # fmt: skip
    for e in data["engineers"]:
        for lab in e["labs"] or [{"lab": "", "target": "", "spent_usd": 0,
                                  "cloud_equivalent_usd": None,
                                  "spent_actual_usd": 0}]:  # fmt: skip
            writer.writerow([data["month"], e["engineer"], e["budget_usd"], e["spent_usd"],
                             e["percent"], e["level"], lab["lab"], lab["target"],
                             lab["spent_usd"], lab["cloud_equivalent_usd"] or "",
                             e["spent_actual_usd"], e["spent_estimated_usd"],
                             lab["spent_actual_usd"]])  # fmt: skip
    return buf.getvalue()


def html(data: dict[str, Any]) -> str:
    """One page, no external assets: a spend-versus-budget bar per engineer (inline SVG)."""
    esc = html_mod.escape
    rows = []
    for e in data["engineers"]:
        budget = e["budget_usd"] or 1
        scale = max(budget, e["forecast_usd"], e["spent_usd"]) or 1
        width = 480
        spent_w = width * e["spent_usd"] / scale
        fore_w = width * e["forecast_usd"] / scale
        budget_x = width * budget / scale
        colour = LEVEL_HEX[e["level"]]
        rows.append(
            f"<tr><td>{esc(e['engineer'])}</td><td>${e['spent_usd']:,.2f} of "
            f"${e['budget_usd']:,.2f} ({e['percent']:.0f}%, {esc(e['level'])})</td><td>"
            f'<svg width="{width + 10}" height="26" role="img" aria-label="spend versus budget">'
            f'<rect x="0" y="4" width="{fore_w:.1f}" height="18" fill="#ddd"/>'
            f'<rect x="0" y="4" width="{spent_w:.1f}" height="18" fill="{colour}"/>'
            f'<line x1="{budget_x:.1f}" x2="{budget_x:.1f}" y1="0" y2="26" stroke="#000" '
            f'stroke-width="2"/></svg></td></tr>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>labctl spend {esc(data['month'])}</title><style>"
        "body{font-family:sans-serif;margin:2em}td{padding:4px 12px}"
        "</style></head><body>"
        f"<h1>Lab spend, {esc(data['month'])}</h1>"
        f"<p>Total ${data['total_spent_usd']:,.2f} of ${data['total_budget_usd']:,.2f}. "
        "Bar: spent (colour: alert level), grey: forecast to month end, line: budget.</p>"
        f"<p>{'<br>'.join(esc(line) for line in captions(data))}</p>"
        f"<table>{''.join(rows)}</table></body></html>\n"
    )
