"""IoT sensor telemetry with labelled anomaly episodes (seeded), for streaming anomaly detection.

`generate("iot-sensor-telemetry", rows=..., seed=..., out_dir=...)` writes:

- `raw/telemetry.csv`: one reading per row (device_id, ts, temperature_c, vibration_mm_s,
  pressure_bar, current_a, humidity_pct, anomaly), each device's readings 10 s apart, as the
  stream would carry them;
- `train/telemetry.csv`, `validation/telemetry.csv`: label `anomaly` first (no header), then the
  five readings and their deviation from the device's mean over the previous `WINDOW` readings
  (the windowed features the stream job computes);
- `schema.json`.

Devices drift slowly and follow a daily cycle; about 2 % of readings fall in anomaly episodes of
5 to 30 readings: overheating with vibration, a pressure drop, a current surge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen import refuse_options

LABEL = "anomaly"
WINDOW = 60  # readings in the rolling window of the deviation features
INTERVAL_S = 10
SENSORS = ("temperature_c", "vibration_mm_s", "pressure_bar", "current_a", "humidity_pct")
FEATURES = [*SENSORS, *(f"{s}_dev" for s in SENSORS)]
BASE = np.array([45.0, 2.0, 6.0, 12.0, 40.0])
NOISE = np.array([0.8, 0.25, 0.08, 0.5, 2.0])
# anomaly kind -> shift of each sensor, in noise units
EPISODES = np.array(
    [
        [6.0, 8.0, 0.0, 2.0, 0.0],  # overheating bearing: hot and shaking
        [0.0, 1.0, -9.0, 0.0, 0.0],  # pressure drop (leak)
        [1.5, 0.0, 0.0, 10.0, 0.0],  # current surge
    ]
)
ANOMALY_RATE = 0.02
START = np.datetime64("2025-03-01T00:00:00")


def _device(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(readings n x 5, anomaly labels n) of one device."""
    t = np.arange(n)
    daily = np.sin(2 * np.pi * t * INTERVAL_S / 86_400.0)
    offset = rng.normal(0, 1.0, len(SENSORS)) * NOISE * 3
    drift = np.cumsum(rng.normal(0, 0.02, (n, len(SENSORS))), axis=0) * NOISE
    values = BASE + offset + drift + rng.normal(0, 1.0, (n, len(SENSORS))) * NOISE
    values[:, 0] += 2.0 * daily
    values[:, 4] -= 5.0 * daily
    labels = np.zeros(n, dtype=np.int64)
    episodes = rng.poisson(n * ANOMALY_RATE / 17.5)  # mean episode length 17.5
    for _ in range(episodes):
        length = int(rng.integers(5, 31))
        start = int(rng.integers(WINDOW, max(WINDOW + 1, n - length)))
        ramp = np.minimum(1.0, (np.arange(length) + 1) / 3.0)[:, None]
        kind = EPISODES[rng.integers(len(EPISODES))]
        values[start : start + length] += ramp * kind * NOISE * rng.uniform(0.7, 1.3)
        labels[start : start + length] = 1
    return values, labels


def _deviation(values: np.ndarray) -> np.ndarray:
    """Each reading minus the mean of the device's previous WINDOW readings (0 at the start)."""
    cum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    idx = np.arange(len(values))
    lo = np.maximum(0, idx - WINDOW)
    count = np.maximum(1, idx - lo)[:, None]
    mean = (cum[idx] - cum[lo]) / count
    mean[0] = values[0]
    return values - mean


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ (CSV) and schema.json; return the schema."""
    refuse_options(name, options)
    rng = np.random.default_rng(seed)
    devices = int(np.clip(rows // 2000, 2, 200))
    sizes = np.full(devices, rows // devices)
    sizes[: rows - sizes.sum()] += 1
    parts = [_device(int(n), rng) for n in sizes]
    values = np.vstack([v for v, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    features = np.hstack([values, np.vstack([_deviation(v) for v, _ in parts])])
    device_id = np.repeat(np.arange(1, devices + 1), sizes)
    step = np.concatenate([np.arange(n) for n in sizes])
    ts = START + (step * INTERVAL_S).astype("timedelta64[s]")

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    header = ["device_id", "ts", *SENSORS, LABEL]
    with open(out_dir / "raw" / "telemetry.csv", "w", encoding="utf-8") as raw:
        raw.write(",".join(header) + "\n")
        for d, t, v, lab in zip(device_id, ts.astype(str), values.round(3), labels, strict=True):
            raw.write(f"dev-{d:04d},{t}Z,{','.join(map(str, v))},{lab}\n")
    order = rng.permutation(rows)
    k = round(rows * validation_fraction)
    split = {"validation": np.sort(order[:k]), "train": np.sort(order[k:])}
    table = np.hstack([labels[:, None], features.round(4)])
    for sub, idx in split.items():
        np.savetxt(out_dir / sub / "telemetry.csv", table[idx], delimiter=",", fmt="%.6g")
    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": LABEL,
        "features": FEATURES,
        "content_type": "text/csv",
        "files": {
            "raw": "raw/telemetry.csv",
            "train": "train/telemetry.csv",
            "validation": "validation/telemetry.csv",
        },
        "train_rows": len(split["train"]),
        "validation_rows": len(split["validation"]),
        "positive_rate": round(float(labels.mean()), 6),
        "devices": devices,
        "window": WINDOW,
        "interval_seconds": INTERVAL_S,
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
