"""What jobs read from a data step's channels besides training: batch input, monitoring baseline.

Channels follow the SageMaker built-in convention (CSV without a header, label first; text as
`__label__<label> tokens`), so the same functions serve every target that stages data locally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BUCKETS = 10  # of a feature's distribution in the baseline statistics


def strip_labels(src: Path, dst: Path, *, text: bool, jsonl: bool = False) -> None:
    """Drop the label column (CSV) or `__label__` token (text); text as JSON lines if asked."""
    dst.mkdir(parents=True, exist_ok=True)
    sep = " " if text else ","
    for file in sorted(p for p in src.iterdir() if p.is_file()):
        name = file.with_suffix(".jsonl").name if jsonl else file.name
        with file.open(encoding="utf-8") as fin, (dst / name).open("w", encoding="utf-8") as fout:
            for line in fin:
                if line.strip():
                    rest = line.rstrip("\n").partition(sep)[2]
                    fout.write((json.dumps({"source": rest}) if jsonl else rest) + "\n")


def baseline(train_dir: Path, schema: dict[str, Any], out: Path) -> int:
    """statistics.json and constraints.json of the features, in Model Monitor's format.

    Returns the number of features; a text or image channel has no tabular features (an empty
    baseline).
    """
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    if schema.get("content_type") in ("text/plain", "application/x-npz"):
        (out / "statistics.json").write_text(json.dumps({"dataset": {"item_count": 0}}))
        return 0
    frames = [pd.read_csv(f, header=None) for f in sorted(train_dir.iterdir()) if f.is_file()]
    frame = pd.concat(frames, ignore_index=True).iloc[:, 1:]  # label first
    names = schema.get("features") or []
    if len(names) != frame.shape[1]:
        names = [f"_c{i}" for i in range(frame.shape[1])]
    features = []
    constraints = []
    for name, (_, col) in zip(names, frame.items(), strict=True):
        integral = bool((col.dropna() % 1 == 0).all())
        kind = "Integral" if integral else "Fractional"
        features.append(
            {
                "name": name,
                "inferred_type": kind,
                "numerical_statistics": {
                    "common": {
                        "num_present": int(col.notna().sum()),
                        "num_missing": int(col.isna().sum()),
                    },
                    "mean": float(col.mean()),
                    "sum": float(col.sum()),
                    "std_dev": float(col.std(ddof=0)),
                    "min": float(col.min()),
                    "max": float(col.max()),
                    "distribution": {"kll": {"buckets": _buckets(col)}},
                },
            }
        )
        constraints.append(
            {
                "name": name,
                "inferred_type": kind,
                "completeness": 1.0,
                "num_constraints": {"is_non_negative": bool(col.min() >= 0)},
            }
        )
    statistics = {"version": 0.0, "dataset": {"item_count": len(frame)}, "features": features}
    rules = {
        "version": 0.0,
        "features": constraints,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
            },
        },
    }
    (out / "statistics.json").write_text(json.dumps(statistics, indent=1), encoding="utf-8")
    (out / "constraints.json").write_text(json.dumps(rules, indent=1), encoding="utf-8")
    return len(features)


def _buckets(col: Any, count: int = BUCKETS) -> list[dict[str, float]]:
    """Equal-width buckets between the column's min and max with their counts, as Model
    Monitor's statistics give a feature's distribution (`distribution.kll.buckets`)."""
    import numpy as np

    values = col.dropna().to_numpy(dtype=float)
    if not values.size:
        return []
    low, high = float(values.min()), float(values.max())
    counts, edges = np.histogram(values, bins=count, range=(low, high if high > low else low + 1))
    return [
        {"lower_bound": float(a), "upper_bound": float(b), "count": float(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
