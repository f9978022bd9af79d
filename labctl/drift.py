"""Feature drift between a baseline and current data, with the statistics Vertex AI computes.

Vertex AI Model Monitoring v2 compares, per feature, the distribution of the baseline (the
training data) with that of the requests an endpoint logged: categorical features by the
L-infinity distance between their value frequencies (its default `l_infinity`), numeric features
by the Jensen-Shannon divergence of their histograms (`jensen_shannon_divergence`); a feature
drifts when its distance passes its alert threshold (0.3 unless set). `drift_report` computes the
same numbers on this machine, for the local target's monitor steps (gcp and databricks labs).

Design choice: numeric histograms use the baseline's deciles as bin edges, open at both ends, so
values outside the baseline's range fall in the outer bins and count as drift. The divergence is
taken in base 2, so both distances lie in [0, 1] and one threshold scale serves both.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLD = 0.3  # Vertex AI Model Monitoring's default alert threshold
NUMERIC_METRIC = "jensen_shannon_divergence"
CATEGORICAL_METRIC = "l_infinity"
NUMERIC_BINS = 10


def l_infinity(p: dict[Any, float], q: dict[Any, float]) -> float:
    """The largest difference in frequency of any value between two distributions."""
    return max((abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in {*p, *q}), default=0.0)


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two distributions over the same bins."""
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(a * math.log2(a / b) for a, b in zip(x, m, strict=True) if a > 0)

    return max(0.0, (kl(p) + kl(q)) / 2)


def _frequencies(col: pd.Series) -> dict[Any, float]:
    counts = col.dropna().astype(str).value_counts(normalize=True)
    return {k: float(v) for k, v in counts.items()}


def _histograms(base: pd.Series, current: pd.Series) -> tuple[list[float], list[float]]:
    """Both columns' shares per bin, the bins cut at the baseline's deciles (open ends)."""
    import numpy as np

    values = base.dropna().to_numpy(dtype=float)
    inner = np.unique(np.quantile(values, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))

    def shares(col: pd.Series) -> list[float]:
        data = col.dropna().to_numpy(dtype=float)
        counts, _ = np.histogram(data, bins=edges)
        total = counts.sum()
        return [float(c / total) if total else 0.0 for c in counts]

    return shares(base), shares(current)


def _numeric(col: pd.Series) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(col) and not types.is_bool_dtype(col)


def drift_report(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Per-feature drift of `current` against `baseline`, as Vertex AI Model Monitoring v2.

    Every column of `baseline` is a feature; `thresholds` maps feature names to their alert
    threshold (others get DEFAULT_THRESHOLD). A feature is numeric when the baseline's column is
    numeric. Returns a JSON-ready dict: `features` (per feature: type, metric, distance,
    threshold, drifted), `drifted` (names), `missing` (features absent from `current`), the row
    counts, and `alert` (any feature drifted).
    """
    thresholds = thresholds or {}
    features: dict[str, dict[str, Any]] = {}
    missing = [name for name in baseline.columns if name not in current.columns]
    for name in baseline.columns:
        if name in missing:
            continue
        base, now = baseline[name], current[name]
        if _numeric(base) and base.notna().any():
            from pandas.api import types

            if not types.is_numeric_dtype(now):
                import pandas as pd

                now = pd.to_numeric(now, errors="coerce")
            kind, metric = "numeric", NUMERIC_METRIC
            distance = jensen_shannon(*_histograms(base, now)) if now.notna().any() else 1.0
        else:
            kind, metric = "categorical", CATEGORICAL_METRIC
            distance = l_infinity(_frequencies(base), _frequencies(now))
        threshold = float(thresholds.get(str(name), DEFAULT_THRESHOLD))
        features[str(name)] = {
            "type": kind,
            "metric": metric,
            "distance": round(distance, 6),
            "threshold": threshold,
            "drifted": distance > threshold,
        }
    drifted = [n for n, f in features.items() if f["drifted"]]
    return {
        "features": features,
        "drifted": drifted,
        "missing": [str(n) for n in missing],
        "baseline_rows": len(baseline),
        "current_rows": len(current),
        "alert": bool(drifted or missing),
    }


def captured_requests(folder: Path, names: list[str]) -> pd.DataFrame:
    """The request rows an endpoint captured under `folder` (SageMaker capture JSON lines, as
    the local model server writes): CSV bodies, or JSON `{"instances": [...]}` of lists or
    objects; columns named `names` when the rows have that many values. Empty when nothing was
    captured (or the bodies are not tabular)."""
    import pandas as pd

    rows: list[Any] = []
    for path in sorted(folder.rglob("capture*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)["captureData"]["endpointInput"]
            except (ValueError, KeyError, TypeError):
                continue
            if data.get("encoding") == "CSV":
                rows += [next(csv.reader([r])) for r in data["data"].splitlines() if r.strip()]
            elif data.get("encoding") == "JSON":
                try:
                    body = json.loads(data["data"])
                except ValueError:
                    continue
                found = body.get("instances", []) if isinstance(body, dict) else body
                rows += found if isinstance(found, list) else []
    if not rows:
        return pd.DataFrame(columns=names)
    if all(isinstance(r, dict) for r in rows):
        return pd.DataFrame(rows)
    frame = pd.DataFrame([r for r in rows if isinstance(r, list)])
    if frame.shape[1] == len(names):
        frame.columns = names
    return _numeric_where(frame)


def _numeric_where(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns that parse as numbers become numeric (CSV bodies arrive as text)."""
    import pandas as pd

    for col in frame.columns:
        parsed = pd.to_numeric(frame[col], errors="coerce")
        if parsed.notna().sum() == frame[col].notna().sum():
            frame[col] = parsed
    return frame


def channel_frame(folder: Path, names: list[str]) -> pd.DataFrame:
    """The features of a training-contract CSV channel (label first, no header), named."""
    import pandas as pd

    files = sorted(f for f in folder.iterdir() if f.is_file()) if folder.is_dir() else []
    if not files:
        return pd.DataFrame(columns=names)
    frame = pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)
    frame = frame.iloc[:, 1:]
    frame.columns = names if len(names) == frame.shape[1] else [f"_c{i}" for i in frame.columns]
    return frame
