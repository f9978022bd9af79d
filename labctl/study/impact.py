"""Impact of lab work on exam results and client work, from the ledger.

Per certification, each engineer counts once, with their latest sitting (the result that stands):
- `with_labs`: by the exam day the engineer had done a milestone crediting one of the
  certification's domains (progress.coverage > 0); `without_labs`: the others.
  Pass rate and mean score of each group.
- Per domain: the mean domain score of engineers whose labs covered that domain by the exam day
  against those whose did not.
- Days from the engineer's first milestone done in a lab of the certification to the exam.
- Labs reused on client work, and days from the engineer's first milestone of the lab (else
  their first run of it) to its first use for a client.
Every figure drawn from fewer than `MIN_RESULTS` results is None, with a note saying so.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from labctl.catalog import Catalog
from labctl.errors import UsageError, did_you_mean
from labctl.ledger import Ledger
from labctl.study import progress as prog
from labctl.study.models import ExamResult, LabReuse, add, all_rows

MIN_RESULTS = 3


def too_few(n: int) -> str:
    return f"too few results to compare ({n} < {MIN_RESULTS})"


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if len(values) >= MIN_RESULTS else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if len(values) >= MIN_RESULTS else None


def group(results: Iterable[ExamResult]) -> dict[str, Any]:
    """Engineers, passes, pass rate and mean score of a group (None below MIN_RESULTS)."""
    items = list(results)
    n = len(items)
    passed = sum(r.passed for r in items)
    out: dict[str, Any] = {
        "engineers": n,
        "passed": passed,
        "pass_rate": round(passed / n, 4) if n >= MIN_RESULTS else None,
        "mean_score": _mean([r.score for r in items]),
    }
    if n < MIN_RESULTS:
        out["note"] = too_few(n)
    return out


def _scores(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(values), "mean_score": _mean(values)}
    if len(values) < MIN_RESULTS:
        out["note"] = too_few(len(values))
    return out


def _days(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(values), "median": _median(values)}
    if len(values) < MIN_RESULTS:
        out["note"] = too_few(len(values))
    return out


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max)


def latest_results(results: list[ExamResult]) -> dict[str, dict[str, ExamResult]]:
    """cert -> engineer -> their latest sitting (by date, then by the order recorded)."""
    latest: dict[str, dict[str, ExamResult]] = {}
    for r in sorted(results, key=lambda r: (r.taken_on, r.id)):
        latest.setdefault(r.cert, {})[r.engineer] = r
    return latest


def report(ledger: Ledger, cat: Catalog) -> dict[str, Any]:
    """The impact figures described in the module docstring, as plain data."""
    done = prog.done_by_engineer(ledger, cat)
    certs: dict[str, Any] = {}
    for cert_id, by_engineer in sorted(latest_results(all_rows(ledger, ExamResult)).items()):
        cert = cat.certifications.get(cert_id)
        if cert is None:
            continue
        with_labs, without = [], []
        domain_scores: dict[str, tuple[list[float], list[float]]] = {
            d.id: ([], []) for d in cert.domains
        }
        days: list[float] = []
        for engineer, result in sorted(by_engineer.items()):
            progress = done.get(engineer, {})
            cov = prog.coverage(cat, progress, until=_end_of(result.taken_on))[cert_id]
            (with_labs if cov["weighted"] > 0 else without).append(result)
            for d, score in (result.domain_scores or {}).items():
                if d in domain_scores:
                    domain_scores[d][0 if cov["domains"][d] > 0 else 1].append(float(score))
            firsts = [
                m.on
                for lab, ms in progress.items()
                if cert_id in cat.labs[lab].domains
                for m in ms.values()
                if m.on <= _end_of(result.taken_on)
            ]
            if firsts:
                days.append((result.taken_on - min(firsts).date()).days)
        certs[cert_id] = {
            "title": cert.title,
            "engineers": len(by_engineer),
            "with_labs": group(with_labs),
            "without_labs": group(without),
            "domains": {
                d: {"covered_by_labs": _scores(c), "not_covered": _scores(nc)}
                for d, (c, nc) in domain_scores.items()
            },
            "days_first_lab_to_exam": _days(days),
        }
    return {"min_results": MIN_RESULTS, "certifications": certs, "reuse": reuse(ledger, done)}


def reuse(ledger: Ledger, done: dict[str, prog.Progress]) -> dict[str, Any]:
    """Labs reused on client work: uses, clients, engineers, days from first lab work to use."""
    rows = all_rows(ledger, LabReuse)
    first_run: dict[tuple[str, str], datetime] = {}
    for run in prog.runs(ledger):
        first_run.setdefault((run.engineer, run.lab), run.created_at)
    labs: dict[str, dict[str, Any]] = {}
    first_use: dict[tuple[str, str], date] = {}
    for r in sorted(rows, key=lambda r: (r.used_on, r.id)):
        entry = labs.setdefault(
            r.lab, {"lab": r.lab, "uses": 0, "clients": set(), "engineers": set()}
        )
        entry["uses"] += 1
        entry["clients"].add(r.client)
        entry["engineers"].add(r.engineer)
        first_use.setdefault((r.engineer, r.lab), r.used_on)
    waits: dict[str, list[float]] = {}
    for (engineer, lab), used in first_use.items():
        marks = [d.on for d in done.get(engineer, {}).get(lab, {}).values()]
        start = min(marks) if marks else first_run.get((engineer, lab))
        if start is not None and start.date() <= used:
            waits.setdefault(lab, []).append((used - start.date()).days)
    return {
        "records": len(rows),
        "labs": [
            {
                **e,
                "clients": sorted(e["clients"]),
                "engineers": sorted(e["engineers"]),
                "days_to_first_use": _days(waits.get(name, [])),
            }
            for name, e in sorted(labs.items())
        ],
    }


# --- recording ----------------------------------------------------------------------------------


def parse_domains(cat: Catalog, cert: str, pairs: list[str]) -> dict[str, float]:
    """`--domain modeling=78` pairs -> {domain id: score}, checked against the certification."""
    known = [d.id for d in cat.certifications[cert].domains]
    scores: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UsageError(f"--domain {pair}: expected DOMAIN=SCORE, e.g. modeling=78")
        if key not in known:
            raise UsageError(
                f"--domain {pair}: '{cert}' has no domain '{key}'{did_you_mean(key, known)}",
                hint=f"its domains: {', '.join(known)}",
            )
        try:
            scores[key] = float(value)
        except ValueError:
            raise UsageError(f"--domain {pair}: '{value}' is not a number") from None
    return scores


def record_exam(
    ledger: Ledger,
    cat: Catalog,
    *,
    engineer: str,
    cert: str,
    taken_on: date,
    score: float,
    passed: bool,
    domains: list[str],
) -> ExamResult:
    if cert not in cat.certifications:
        raise UsageError(
            f"--cert {cert}: no such certification{did_you_mean(cert, cat.certifications)}",
            hint="`labctl certs` lists them",
        )
    if score < 0:
        raise UsageError(f"--score {score}: a score is not negative")
    row = ExamResult(
        engineer=engineer,
        cert=cert,
        taken_on=taken_on,
        score=score,
        passed=passed,
        domain_scores=parse_domains(cat, cert, domains),
    )
    add(ledger, row)
    return row


def record_reuse(
    ledger: Ledger,
    cat: Catalog,
    *,
    engineer: str,
    lab: str,
    client: str,
    used_on: date,
    note: str | None = None,
) -> LabReuse:
    cat.lab(lab)  # UnknownLab with suggestions
    if not client.strip():
        raise UsageError("--client: name the client (or a code name for it)")
    row = LabReuse(engineer=engineer, lab=lab, client=client.strip(), used_on=used_on, note=note)
    add(ledger, row)
    return row
