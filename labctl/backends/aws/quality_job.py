"""The script of a monitor step's quality-check processing job: what SageMaker Model Monitor's
data- and model-quality jobs check, over an endpoint's captured traffic. It runs where Model
Monitor is closed to the account (data quality) and for model quality everywhere (labctl does
not merge ground truth into Model Monitor). Standard library only: it runs in the PyTorch
container, and on this machine in the tests.

Inputs, under /opt/ml/processing/input/:
- `capture/`: the endpoint's data capture, SageMaker's JSON lines in
  `<variant>/yyyy/mm/dd/hh/*.jsonl` (CSV request bodies, one record per line);
- `baseline/`: `statistics.json` and `constraints.json` of the training features, Model Monitor's
  format (the data step writes them), for data quality;
- `truth/`: the data step's validation CSV (label first), for model quality: a captured request
  that repeats a validation row has that row's label as its ground truth (the lab's traffic is
  its held-out rows: `batch-input/` is the validation set without labels).

`--window-end` (the schedule's `<aws.scheduler.scheduled-time>`) and `--window-hours` keep the
capture hours of the interval before it, as Model Monitor analyses the last hour's traffic; no
window checks everything captured.

Checks, written to the output as Model Monitor names them:
- data quality -> `constraint_violations.json`: `missing_column_check` / `extra_column_check`
  (the request's column count), `data_type_check` (text in a numeric feature),
  `completeness_check` (missing values below the baseline's completeness) and
  `baseline_drift_check`: the L-infinity distance between the baseline's and the traffic's
  cumulative distributions over the baseline's buckets (`distribution.kll.buckets`) above the
  constraints' `comparison_threshold` (0.1) and above what sampling alone gives a few hundred
  requests (the two-sample Kolmogorov-Smirnov critical value at 1%, 1.63 * sqrt(1/n + 1/N));
- model quality -> `model_quality.json`: binary labels give accuracy, precision, recall, f1 and
  auc (the output is a score; >= 0.5 is positive), other labels mae, rmse and r2; a violation
  when the traffic's value is worse than `--baseline-metric NAME=VALUE` (the trained model's
  validation metric) by more than `--tolerance` (0.1, relative for rmse and mae).

`report.json` sums both; the job exits 0 with violations (as Model Monitor's jobs complete with
violations) unless `--fail-on-violation`.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import math
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path("/opt/ml/processing")
CHECKS = ("data-quality", "model-quality")
HOUR_PATH = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+\.jsonl$")
LOWER_IS_BETTER = ("rmse", "mae")
KS_1_PERCENT = 1.63  # the two-sample Kolmogorov-Smirnov coefficient at alpha = 0.01


# --- the captured traffic --------------------------------------------------------------------


def _in_window(path: Path, end: datetime | None, hours: float) -> bool:
    if end is None or hours <= 0:
        return True
    match = HOUR_PATH.search(path.as_posix())
    if not match:
        return False
    y, m, d, h = (int(g) for g in match.groups())
    start_of_hour = datetime(y, m, d, h, tzinfo=UTC)
    return end - timedelta(hours=hours) <= start_of_hour < end


def _body(captured: dict[str, Any]) -> str:
    data = str(captured.get("data", ""))
    if captured.get("encoding") == "BASE64":
        return base64.b64decode(data).decode("utf-8", "replace")
    return data


def _values(text: str, records: int) -> list[str]:
    """The values of a CSV or JSON response body, one per record: the first column of each
    line, or the cells of a single line holding one per record (`0.1,0.9,0.4`, as the XGBoost
    container may answer a batch)."""
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            body = json.loads(text)
        except ValueError:
            return []
        found = body.get("predictions", body.get("scores", [])) if isinstance(body, dict) else body
        out = []
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict):
                item = item.get("score", item.get("predicted_label", ""))
            out.append(str(item[0] if isinstance(item, list) and item else item))
        return out
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and records > 1 and len(cells := lines[0].split(",")) == records:
        return [cell.strip() for cell in cells]
    return [line.split(",")[0].strip() for line in lines]


def captured(
    folder: Path, *, end: datetime | None = None, hours: float = 0
) -> list[tuple[list[str], str | None]]:
    """(request row, response value) of every CSV request captured under `folder` in the
    window; a response value is None when the response has fewer records than the request."""
    records: list[tuple[list[str], str | None]] = []
    for path in sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []:
        if not _in_window(path, end, hours):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)["captureData"]
                request, response = data["endpointInput"], data.get("endpointOutput", {})
            except (ValueError, KeyError, TypeError):
                continue
            if "csv" not in str(request.get("observedContentType", "text/csv")).lower():
                continue
            rows = [r for r in csv.reader(_body(request).splitlines()) if r]
            outputs = _values(_body(response), len(rows))
            for i, row in enumerate(rows):
                records.append((row, outputs[i] if len(outputs) == len(rows) else None))
    return records


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# --- data quality ----------------------------------------------------------------------------


def _cdf_distance(buckets: list[dict[str, float]], values: list[float]) -> float:
    """L-infinity distance between the baseline's and `values`' cumulative distributions at
    the baseline buckets' upper bounds (values beyond the ends fall in the outer buckets)."""
    total = sum(b["count"] for b in buckets)
    if not total or not values:
        return 0.0
    base = cur = 0.0
    distance = 0.0
    for i, bucket in enumerate(buckets):
        base += bucket["count"] / total
        last = i == len(buckets) - 1
        cur = 1.0 if last else sum(v <= bucket["upper_bound"] for v in values) / len(values)
        distance = max(distance, abs(base - cur))
    return distance


def _sampling_limit(count: int, buckets: list[dict[str, float]]) -> float:
    """The distance two samples of these sizes exceed by chance 1% of the time (KS)."""
    total = sum(b["count"] for b in buckets)
    return KS_1_PERCENT * math.sqrt(1 / count + (1 / total if total else 0))


def data_quality(
    rows: list[list[str]], statistics: dict[str, Any], constraints: dict[str, Any]
) -> list[dict[str, str]]:
    """Model Monitor's constraint violations of the request rows against the baseline."""
    features = statistics.get("features", [])
    rules = {f["name"]: f for f in constraints.get("features", [])}
    config = constraints.get("monitoring_config", {}).get("distribution_constraints", {})
    threshold = float(config.get("comparison_threshold", 0.1))
    compare = config.get("perform_comparison", "Enabled") == "Enabled"
    violations: list[dict[str, str]] = []
    if not rows:
        return violations
    widths = {len(r) for r in rows}
    if max(widths) > len(features):
        violations.append(
            _violation(
                "extra columns",
                "extra_column_check",
                f"requests with {max(widths)} columns; the baseline has {len(features)}",
            )
        )
    if min(widths) < len(features):
        violations.append(
            _violation(
                "missing columns",
                "missing_column_check",
                f"requests with {min(widths)} columns; the baseline has {len(features)}",
            )
        )
    for i, feature in enumerate(features):
        name = feature["name"]
        cells = [r[i].strip() if i < len(r) else "" for r in rows]
        present = [c for c in cells if c]
        completeness = len(present) / len(cells)
        wanted = float(rules.get(name, {}).get("completeness", 1.0))
        if completeness < wanted:
            violations.append(
                _violation(
                    name, "completeness_check", f"completeness {completeness:.3f} < {wanted:.3f}"
                )
            )
        numbers = [_number(c) for c in present]
        text = sum(n is None for n in numbers)
        if text:
            violations.append(
                _violation(
                    name,
                    "data_type_check",
                    f"{text} of {len(present)} values are not numbers; "
                    f"the baseline is {feature.get('inferred_type')}",
                )
            )
        buckets = (
            feature.get("numerical_statistics", {})
            .get("distribution", {})
            .get("kll", {})
            .get("buckets", [])
        )
        values = [n for n in numbers if n is not None]
        if compare and buckets and values:
            distance = _cdf_distance(buckets, values)
            limit = max(threshold, _sampling_limit(len(values), buckets))
            if distance > limit:
                violations.append(
                    _violation(
                        name,
                        "baseline_drift_check",
                        f"distance {distance:.4f} > {limit:.4f} over {len(values)} values",
                    )
                )
    return violations


def _violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


# --- model quality ---------------------------------------------------------------------------


def _key(row: list[str]) -> tuple[str, ...]:
    """A row's values compared as numbers where they are numbers (1 == 1.0)."""
    return tuple(repr(n) if (n := _number(c)) is not None else c.strip() for c in row)


def ground_truth(folder: Path) -> dict[tuple[str, ...], str]:
    """feature row -> label, from the label-first CSV files under `folder`."""
    truth: dict[tuple[str, ...], str] = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                for row in csv.reader(f):
                    if len(row) > 1:
                        truth[_key(row[1:])] = row[0].strip()
    return truth


def auc(labels: list[int], scores: list[float]) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2  # ranks i+1 .. j
        rank_sum += mean_rank * sum(label for _, label in ranked[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def model_quality(
    records: list[tuple[list[str], str | None]], truth: dict[tuple[str, ...], str]
) -> dict[str, Any]:
    """Metrics of the captured predictions whose request has a ground-truth label."""
    pairs = []
    for row, output in records:
        label = truth.get(_key(row))
        score = _number(output) if output is not None else None
        if label is not None and (value := _number(label)) is not None and score is not None:
            pairs.append((value, score))
    out: dict[str, Any] = {"captured": len(records), "labelled": len(pairs)}
    if not pairs:
        return out
    labels = [p[0] for p in pairs]
    scores = [p[1] for p in pairs]
    if set(labels) <= {0.0, 1.0}:
        predicted = [1.0 if s >= 0.5 else 0.0 for s in scores]
        tp = sum(p == y == 1.0 for p, y in zip(predicted, labels, strict=True))
        fp = sum(p == 1.0 and y == 0.0 for p, y in zip(predicted, labels, strict=True))
        fn = sum(p == 0.0 and y == 1.0 for p, y in zip(predicted, labels, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        metrics = {
            "accuracy": sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(pairs),
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "auc": auc([int(y) for y in labels], scores),
        }
        out["problem"] = "binary"
    else:
        errors = [s - y for y, s in pairs]
        mean = sum(labels) / len(labels)
        total = sum((y - mean) ** 2 for y in labels)
        metrics = {
            "mae": sum(abs(e) for e in errors) / len(errors),
            "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
            "r2": 1 - sum(e * e for e in errors) / total if total else None,
        }
        out["problem"] = "regression"
    out["metrics"] = {k: round(v, 6) if v is not None else None for k, v in metrics.items()}
    return out


def model_violations(
    quality: dict[str, Any], baseline: dict[str, float], tolerance: float
) -> list[dict[str, str]]:
    """The metrics worse than the trained model's (`baseline`, names like `validation:auc`)."""
    violations = []
    metrics = quality.get("metrics", {})
    for name, expected in baseline.items():
        metric = name.rsplit(":", 1)[-1].lower()
        value = metrics.get(metric)
        if value is None:
            continue
        if metric in LOWER_IS_BETTER:
            limit, worse = expected * (1 + tolerance), value > expected * (1 + tolerance)
        else:
            limit, worse = expected - tolerance, value < expected - tolerance
        if worse:
            violations.append(
                _violation(
                    metric,
                    f"{metric}_check",
                    f"{metric} {value:.4f} on {quality['labelled']} "
                    f"labelled requests; limit {limit:.4f} (trained "
                    f"{name} {expected})",
                )
            )
    return violations


# --- the job ---------------------------------------------------------------------------------


def run(
    root: Path,
    checks: list[str],
    *,
    end: datetime | None = None,
    hours: float = 0,
    baseline_metrics: dict[str, float] | None = None,
    tolerance: float = 0.1,
) -> dict[str, Any]:
    """Run `checks` over root/input/*, write the reports to root/output; the summary."""
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}")
    inputs, output = root / "input", root / "output"
    output.mkdir(parents=True, exist_ok=True)
    records = captured(inputs / "capture", end=end, hours=hours)
    report: dict[str, Any] = {
        "window_end": end.isoformat() if end else None,
        "window_hours": hours or None,
        "records": len(records),
    }
    if "data-quality" in checks:
        base = inputs / "baseline"
        violations = data_quality(
            [r for r, _ in records],
            json.loads((base / "statistics.json").read_text(encoding="utf-8")),
            json.loads((base / "constraints.json").read_text(encoding="utf-8")),
        )
        (output / "constraint_violations.json").write_text(
            json.dumps({"violations": violations}, indent=1), encoding="utf-8"
        )
        report["data-quality"] = {"violations": violations}
    if "model-quality" in checks:
        quality = model_quality(records, ground_truth(inputs / "truth"))
        quality["violations"] = model_violations(quality, baseline_metrics or {}, tolerance)
        (output / "model_quality.json").write_text(json.dumps(quality, indent=1), "utf-8")
        report["model-quality"] = quality
    report["violations"] = sum(len(report[c]["violations"]) for c in checks)
    (output / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _when(value: str) -> datetime | None:
    """The schedule's time, or None when it was not substituted (a run by hand)."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--window-end", default="")
    parser.add_argument("--window-hours", type=float, default=0)
    parser.add_argument("--baseline-metric", action="append", default=[])
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--fail-on-violation", action="store_true")
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args(argv)
    metrics = {k: float(v) for k, _, v in (m.partition("=") for m in args.baseline_metric)}
    report = run(
        Path(args.root),
        [c for c in args.checks.split(",") if c],
        end=_when(args.window_end),
        hours=args.window_hours,
        baseline_metrics=metrics,
        tolerance=args.tolerance,
    )
    print(json.dumps(report))
    return 1 if args.fail_on_violation and report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
