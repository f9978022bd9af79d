"""The cost report in three forms for people: a terminal table, CSV, and a self-contained page."""

from __future__ import annotations

import csv
import html as html_mod
import io
from typing import Any

LEVEL_COLOUR = {"ok": "green", "50": "yellow", "75": "dark_orange", "100": "red"}
LEVEL_HEX = {"ok": "#2e7d32", "50": "#f9a825", "75": "#ef6c00", "100": "#c62828"}


def print_report(console: Any, data: dict[str, Any], *, headers: bool = True) -> None:
    from rich.text import Text

    from labctl.views import SECTION, Col, print_table

    rows: list[Any] = []
    for e in data["engineers"]:
        colour = LEVEL_COLOUR[e["level"]]
        rows.append([
            e["engineer"], f"{e['budget_usd']:,.2f}", f"{e['spent_usd']:,.2f}",
            f"{e['spent_actual_usd']:,.2f}", f"{e['closed_usd']:,.2f}", f"{e['running_usd']:,.2f}",
            f"{e['burn_usd_per_hour']:,.3f}", f"{e['forecast_usd']:,.2f}",
            Text(f"{e['percent']:.0f}%", colour), Text(e["level"], colour),
            "\n".join(_lab_line(lab) for lab in e["labs"]) or "-",
        ])  # fmt: skip
        rows.append(SECTION)
    rows.append(["total", f"{data['total_budget_usd']:,.2f}", f"{data['total_spent_usd']:,.2f}",
                 f"{data['total_spent_actual_usd']:,.2f}", *[""] * 7])  # fmt: skip
    columns = [Col(c, right=c not in ("engineer", "level", "labs"))
               for c in ("engineer", "budget", "spent", "billed", "closed", "running", "burn $/h",
                         "forecast", "%", "level", "labs")]  # fmt: skip
    print_table(console, columns, rows, title=f"Spend {data['month']} (USD)",
                caption="\n".join(captions(data)), headers=headers)  # fmt: skip


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
        lines.append(
            f"{data['unpriced_resources']} resource(s) had no price, not counted: "
            + ", ".join(data.get("unpriced", []))
        )
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


def with_team(data: dict[str, Any], team: Any) -> list[dict[str, Any]]:
    """The report's engineers plus the configured ones with no spend yet (at $0 of their budget),
    so a morning page lists everyone with a budget even on the 1st of the month."""
    entries = list(data["engineers"])
    seen = {e["engineer"] for e in entries}
    for name, own in sorted(team.engineers.items()):
        if name not in seen:
            entries.append({
                "engineer": name, "budget_usd": own.monthly_budget_usd, "spent_usd": 0.0,
                "spent_actual_usd": 0.0, "closed_usd": 0.0, "running_usd": 0.0,
                "burn_usd_per_hour": 0.0, "forecast_usd": 0.0, "percent": 0.0, "level": "ok",
                "labs": [],
            })  # fmt: skip
    return entries


CHART_W, LABEL_W, ROW_H = 640, 180, 34


def html(data: dict[str, Any], team: Any) -> str:
    """A page a team lead opens every morning, with no external assets: per engineer, spend vs
    budget vs forecast as an inline SVG chart with the alert thresholds; who is over; the burn
    rate; a per-lab breakdown. `team` is `cost.Team` (budgets, thresholds, engineers)."""
    esc = html_mod.escape
    entries = with_team(data, team)
    thresholds = sorted(team.alert_thresholds)
    over = [e for e in entries if e["spent_usd"] > e["budget_usd"] or e["level"] == "100"]
    heading = [e for e in entries if e not in over and e["forecast_usd"] > e["budget_usd"]]
    burn = sum(e["burn_usd_per_hour"] for e in entries)
    spent = sum(e["spent_usd"] for e in entries)
    budget = sum(e["budget_usd"] for e in entries)
    summary = [
        f"<b>${spent:,.2f}</b> spent of <b>${budget:,.2f}</b> budgeted across "
        f"{len(entries)} engineer(s)" if entries else
        f"No spend yet and no engineer configured: everyone gets "
        f"<b>${team.monthly_budget_usd:,.2f}</b> a month",
        f"burn rate now <b>${burn:,.3f}/h</b> (${burn * 24:,.2f}/day)",
        f"default budget ${team.monthly_budget_usd:,.2f}/month; alerts at "
        + ", ".join(f"{t}%" for t in thresholds),
    ]  # fmt: skip
    alerts = "".join(
        f"<li class='over'>{esc(e['engineer'])}: ${e['spent_usd']:,.2f} of "
        f"${e['budget_usd']:,.2f} ({e['percent']:.0f}%): over budget</li>"
        for e in over
    ) + "".join(
        f"<li class='heading'>{esc(e['engineer'])}: forecast ${e['forecast_usd']:,.2f} of "
        f"${e['budget_usd']:,.2f}: on course to go over</li>"
        for e in heading
    )  # fmt: skip
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>labctl spend {esc(data['month'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Lab spend, {esc(data['month'])}</h1>"
        f"<p class='summary'>{'<br>'.join(summary)}</p>"
        + (
            f"<ul class='alerts'>{alerts}</ul>"
            if alerts
            else "<p class='ok'>Nobody is over budget or on course to go over.</p>"
        )
        + "<h2>Spend vs budget vs forecast</h2>"
        + _chart(entries, thresholds)
        + "<p class='legend'><span class='k spent'></span>spent (colour: alert level) "
        "<span class='k fore'></span>forecast to month end <span class='k budget'></span>budget "
        "<span class='k thr'></span>alert thresholds</p>"
        + "<h2>Per engineer and lab</h2>"
        + _breakdown(entries)
        + f"<p class='notes'>{'<br>'.join(esc(line) for line in captions(data))}</p>"
        + _DRAWN
        + "</body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:980px}"
    "h1{margin-bottom:.2em}.summary{line-height:1.6}"
    "ul.alerts{padding-left:1.2em}li.over{color:#c62828;font-weight:bold}li.heading{color:#ef6c00}"
    ".ok{color:#2e7d32}table{border-collapse:collapse;margin-top:.5em}"
    "th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child,td.lab{text-align:left}tr.lab td{color:#555;font-size:.9em}"
    ".legend{font-size:.9em}.k{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
    "vertical-align:middle}.k.spent{background:#2e7d32}.k.fore{background:#ccc}"
    ".k.budget{background:#000;width:3px}.k.thr{border-left:2px dashed #888;width:0}"
    ".notes{color:#666;font-size:.85em}"
)


# Marks the body with how many bars the browser laid out (getBBox forces layout): what the
# headless-browser test reads back from the DOM.
_DRAWN = (
    "<script>(function(){var n=0;document.querySelectorAll('#spend-chart rect').forEach("
    "function(r){if(r.getBBox().height>0)n++;});"
    "document.body.setAttribute('data-bars-drawn',String(n));})();</script>"
)


def _chart(entries: list[dict[str, Any]], thresholds: list[int]) -> str:
    """Horizontal bars on one scale: spent (level colour) over forecast (grey), a black budget
    line and dashed threshold ticks per engineer."""
    esc = html_mod.escape
    if not entries:
        return "<p>No engineer to chart yet.</p>"
    top = max(max(e["budget_usd"], e["forecast_usd"], e["spent_usd"]) for e in entries) or 1.0
    scale = CHART_W / (top * 1.05)
    height = ROW_H * len(entries) + 24
    parts = [
        f'<svg id="spend-chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{LABEL_W + CHART_W + 90}" '
        f'height="{height}" role="img" aria-label="spend versus budget and forecast per engineer" '
        'font-family="system-ui,sans-serif" font-size="12">'
    ]  # fmt: skip
    for i, e in enumerate(entries):
        y = 8 + i * ROW_H
        x0 = LABEL_W
        colour = LEVEL_HEX[e["level"]]
        parts.append(
            f'<g class="engineer" data-engineer="{esc(e["engineer"])}">'
            f'<text x="{x0 - 8}" y="{y + 15}" text-anchor="end">{esc(e["engineer"])}</text>'
            f'<rect class="forecast" x="{x0}" y="{y + 2}" width="{e["forecast_usd"] * scale:.1f}" '
            f'height="18" fill="#ccc"><title>forecast ${e["forecast_usd"]:,.2f}</title></rect>'
            f'<rect class="spent" x="{x0}" y="{y + 2}" width="{e["spent_usd"] * scale:.1f}" '
            f'height="18" fill="{colour}"><title>spent ${e["spent_usd"]:,.2f}</title></rect>'
        )  # fmt: skip
        for t in thresholds:
            x = x0 + e["budget_usd"] * t / 100 * scale
            style = 'stroke="#000" stroke-width="2"' if t == 100 else (
                'stroke="#888" stroke-width="1" stroke-dasharray="3,2"')  # fmt: skip
            parts.append(f'<line class="threshold t{t}" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" '
                         f'y2="{y + 22}" {style}><title>{t}% of budget</title></line>')  # fmt: skip
        parts.append(
            f'<text x="{x0 + CHART_W + 6}" y="{y + 15}">{e["percent"]:.0f}% of '
            f"${e['budget_usd']:,.0f}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _level(level: str) -> str:
    """'ok', or the highest alert threshold crossed as '75%'."""
    return level if level == "ok" else f"{level}%"


def _breakdown(entries: list[dict[str, Any]]) -> str:
    esc = html_mod.escape
    head = ("engineer / lab", "budget", "spent", "billed", "burn $/h", "forecast", "%", "level")
    rows = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for e in entries:
        colour = LEVEL_HEX[e["level"]]
        rows.append(
            f"<tr><td><b>{esc(e['engineer'])}</b></td><td>${e['budget_usd']:,.2f}</td>"
            f"<td>${e['spent_usd']:,.2f}</td><td>${e['spent_actual_usd']:,.2f}</td>"
            f"<td>{e['burn_usd_per_hour']:,.3f}</td><td>${e['forecast_usd']:,.2f}</td>"
            f"<td>{e['percent']:.0f}%</td><td style='color:{colour}'>{_level(e['level'])}</td></tr>"
        )
        for lab in e["labs"]:
            rows.append(f"<tr class='lab'><td class='lab'>&nbsp;&nbsp;{esc(_lab_line(lab))}</td>"
                        "<td colspan='7'></td></tr>")  # fmt: skip
        if not e["labs"]:
            rows.append("<tr class='lab'><td class='lab'>&nbsp;&nbsp;no lab run this month</td>"
                        "<td colspan='7'></td></tr>")  # fmt: skip
    return "".join(rows) + "</table>"
