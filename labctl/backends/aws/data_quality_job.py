"""The script of a `deequ` step's processing job (run in the PyTorch container): Deequ-style
constraint checks over the data step's raw CSV files (with a header row), standard library only,
so it also runs on this machine for the tests.

- completeness: no column has an empty value;
- uniqueness: no row appears twice;
- range: every value of a numeric column is a finite number (no NaN, inf or text among numbers).

It writes `report.json` (each check: passed, and what failed) to the output and, with
`--fail-on-error`, exits 1 when a check fails (the job, then the step, fails).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

INPUT = "/opt/ml/processing/input/data"
OUTPUT = "/opt/ml/processing/output"
CHECKS = ("completeness", "uniqueness", "range")


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def check(src: Path, checks: list[str]) -> dict[str, dict[str, object]]:
    """Run `checks` over every CSV under `src`; each: {"passed": bool, "failures": [...]}."""
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}")
    header: list[str] = []
    rows: list[tuple[str, ...]] = []
    for path in sorted(src.rglob("*.csv")):
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, header)
            rows += [tuple(r) for r in reader]
    report: dict[str, dict[str, object]] = {}
    if "completeness" in checks:
        empty = [c for i, c in enumerate(header) if any(i >= len(r) or r[i] == "" for r in rows)]
        report["completeness"] = {"passed": not empty, "failures": empty}
    if "uniqueness" in checks:
        duplicates = len(rows) - len(set(rows))
        report["uniqueness"] = {"passed": duplicates == 0, "failures": duplicates}
    if "range" in checks:
        bad = []
        for i, column in enumerate(header):
            values = [r[i] for r in rows if i < len(r) and r[i] != ""]
            numbers = [_number(v) for v in values]
            mostly_numeric = values and sum(n is not None for n in numbers) > len(values) / 2
            if mostly_numeric and any(n is None or not math.isfinite(n) for n in numbers):
                bad.append(column)
        report["range"] = {"passed": not bad, "failures": bad}
    return report


def main() -> None:  # pragma: no cover - runs in the processing container
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--fail-on-error", action="store_true")
    args = parser.parse_args()
    report = check(Path(INPUT), [c for c in args.checks.split(",") if c])
    Path(OUTPUT).mkdir(parents=True, exist_ok=True)
    (Path(OUTPUT) / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    if args.fail_on_error and not all(r["passed"] for r in report.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
