"""The team page: spend, progress and impact on one self-contained HTML page (no external assets).

Design choice: the spend section is the cost report's own page (`labctl.reports.html`), embedded
whole in an `<iframe srcdoc>`, so this module reuses it without knowing its markup.
"""

from __future__ import annotations

import html as html_mod
from typing import Any

esc = html_mod.escape

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}td,th{padding:4px 10px;"
    "text-align:left;vertical-align:top}table{border-collapse:collapse}tr{border-bottom:1px solid"
    " #ddd}iframe{width:100%;height:16em;border:1px solid #ccc}.note{color:#777}"
    "table+table{margin-top:1em}.cov{white-space:nowrap}"
)


def bar(share: float, width: int = 160) -> str:
    """An inline SVG bar for a 0..1 share, with its percent."""
    w = max(0.0, min(share, 1.0)) * width
    return (
        f'<svg width="{width}" height="12" role="img" aria-label="{share:.0%}">'
        f'<rect width="{width}" height="12" fill="#eee"/>'
        f'<rect width="{w:.1f}" height="12" fill="#1565c0"/></svg> {share:.0%}'
    )


def _figure(figures: dict[str, Any], key: str, fmt: str) -> str:
    """One figure of a group, or why it is not given (too few results)."""
    value = figures[key]
    if value is None:
        return f'<span class="note">{esc(figures.get("note") or "n/a")}</span>'
    n = figures.get("n")
    return esc(format(value, fmt)) + (f" (n={n})" if n is not None else "")


def progress_section(entries: list[dict[str, Any]]) -> str:
    rows = []
    for e in entries:
        started = {c: v for c, v in e["coverage"].items() if v["weighted"] > 0}
        cov = "<br>".join(f"{esc(c)} {bar(v['weighted'])}" for c, v in started.items())
        nxt = e["next"]
        rows.append(
            f"<tr><td>{esc(e['engineer'])}</td><td>{e['labs_done']}</td>"
            f"<td>{e['milestones_done']}</td><td>{e['run_hours']:.1f}</td>"
            f"<td class=cov>{cov or '<span class=note>none yet</span>'}</td>"
            f"<td>{esc(nxt['command']) + ' (' + esc(nxt['title']) + ')' if nxt else ''}</td></tr>"
        )
    return (
        "<h2>Progress</h2><table><tr><th>engineer</th><th>labs done</th><th>milestones</th>"
        "<th>hours up</th><th>exam coverage (weighted)</th><th>next milestone</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def impact_section(data: dict[str, Any]) -> str:
    parts = [f"<h2>Impact</h2><p class=note>Figures from fewer than {data['min_results']} "
             "results are not shown.</p>"]  # fmt: skip
    for cert_id, c in data["certifications"].items():
        rows = "".join(
            f"<tr><td>{label}</td><td>{g['engineers']}</td>"
            f"<td>{_figure(g, 'pass_rate', '.0%')}</td>"
            f"<td>{_figure(g, 'mean_score', '.1f')}</td></tr>"
            for label, g in (("with labs", c["with_labs"]), ("without labs", c["without_labs"]))
        )
        domains = "".join(
            f"<tr><td>{esc(d)}</td><td>{_figure(v['covered_by_labs'], 'mean_score', '.1f')}</td>"
            f"<td>{_figure(v['not_covered'], 'mean_score', '.1f')}</td></tr>"
            for d, v in c["domains"].items()
            if v["covered_by_labs"]["n"] or v["not_covered"]["n"]
        )
        days = c["days_first_lab_to_exam"]
        parts.append(
            f"<h3>{esc(c['title'])} ({esc(cert_id)})</h3>"
            "<table><tr><th>engineers</th><th>n</th><th>pass rate</th><th>mean score</th></tr>"
            f"{rows}</table><table><tr><th>domain</th><th>score, covered by labs</th>"
            f"<th>score, not covered</th></tr>{domains}</table>"
            f"<p>Median days from first lab milestone to the exam: "
            f"{_figure(days, 'median', '.1f')}</p>"
        )
    reuse = data["reuse"]
    rows = "".join(
        f"<tr><td>{esc(r['lab'])}</td><td>{r['uses']}</td><td>{esc(', '.join(r['clients']))}</td>"
        f"<td>{_figure(r['days_to_first_use'], 'median', '.1f')}</td></tr>"
        for r in reuse["labs"]
    )
    if not rows:
        rows = "<tr><td colspan=4 class=note>none recorded (`labctl reuse record`)</td></tr>"
    parts.append(
        "<h3>Labs reused on client work</h3><table><tr><th>lab</th><th>uses</th><th>clients</th>"
        f"<th>median days to first use</th></tr>{rows}</table>"
    )
    return "".join(parts)


def team_page(spend_html: str, progress: list[dict[str, Any]], impact: dict[str, Any]) -> str:
    """One page: the cost report (`spend_html`, a whole document), progress and impact."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>labctl team</title>"
        f"<style>{STYLE}</style></head><body><h1>Lab team page</h1>"
        f'<h2>Spend</h2><iframe title="spend" srcdoc="{esc(spend_html, quote=True)}"></iframe>'
        f"{progress_section(progress)}{impact_section(impact)}</body></html>\n"
    )
