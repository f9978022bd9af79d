"""NYC taxi trips (yellow cab records, the shape of the TLC trip files), seeded and vectorised.

`generate("nyc-taxi-trips", rows=..., seed=..., out_dir=...)` writes:

- `raw/trips.parquet`: pickup/dropoff datetimes, zones (1-263, Manhattan-heavy), passengers,
  trip distance (miles), payment type, fare, tip and total amounts, as in the TLC files;
- `train/part-0.parquet`, `validation/part-0.parquet`: the label `fare_amount` first, then numeric
  features (distance, duration, passengers, pickup hour/weekday, zones, airport and rush flags);
- `schema.json`.

Parquet because both readers of these channels, pandas (single node) and Spark (MLlib), read it
natively and typed; numpy and pandas (with pyarrow) suffice to write it, no Spark needed.
The fare follows the TLC tariff: $3 initial charge, $2.50 a mile (0.5 mile in traffic equals a
minute of waiting), $1 rush-hour and $0.50 night surcharges, a $70 flat fare JFK-Manhattan, noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen import refuse_options

LABEL = "fare_amount"
FEATURES = [
    "trip_distance",
    "duration_min",
    "passenger_count",
    "pickup_hour",
    "pickup_weekday",
    "pickup_zone",
    "dropoff_zone",
    "airport",
    "rush_hour",
]
ZONES = 263
AIRPORT_ZONES = (132, 138)  # JFK, LaGuardia
START = np.datetime64("2024-01-01T00:00:00")


def _trips(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = rows
    # Zones: a third of trips start in a few busy Manhattan zones, 3 % at the airports.
    busy = np.array([161, 162, 163, 164, 170, 186, 230, 234, 236, 237, 48, 68, 79, 90, 100])
    u = rng.random((n, 6), dtype=np.float32)
    pickup = rng.integers(1, ZONES + 1, size=n)
    pickup = np.where(u[:, 0] < 0.35, busy[rng.integers(0, len(busy), size=n)], pickup)
    pickup = np.where(
        u[:, 1] < 0.03, np.asarray(AIRPORT_ZONES)[(u[:, 2] < 0.6).astype(int)], pickup
    )
    dropoff = np.where(
        u[:, 3] < 0.4, busy[rng.integers(0, len(busy), size=n)], rng.integers(1, ZONES + 1, size=n)
    )
    airport = np.isin(pickup, AIRPORT_ZONES) | np.isin(dropoff, AIRPORT_ZONES)
    distance = rng.gamma(1.6, 1.9, size=n) + np.where(airport, rng.normal(14.0, 3.0, size=n), 0.0)
    distance = np.clip(distance, 0.1, 60.0).round(2)

    seconds = rng.integers(0, 366 * 24 * 3600, size=n)
    # more trips in the evening: fold a share of night-time pickups into 17-22 h
    hour = (seconds // 3600) % 24
    shift = (hour < 6) & (u[:, 4] < 0.6)
    seconds = np.where(shift, seconds + 17 * 3600, seconds)
    pickup_ts = START + seconds.astype("timedelta64[s]")
    hour = ((seconds // 3600) % 24).astype(np.int64)
    weekday = ((seconds // 86400 + 0) % 7).astype(np.int64)  # 2024-01-01 was a Monday (0)
    rush = ((hour >= 16) & (hour < 20) & (weekday < 5)).astype(np.int64)
    night = (hour >= 20) | (hour < 6)
    speed = np.clip(rng.normal(np.where(rush == 1, 9.0, 13.0), 3.0), 3.0, 40.0)  # mph
    duration = np.clip(distance / speed * 60.0 + rng.gamma(2.0, 1.5, size=n), 1.0, 240.0).round(2)
    dropoff_ts = pickup_ts + (duration * 60).astype("timedelta64[s]")
    passengers = np.minimum(rng.geometric(0.62, size=n), 6)

    metered = 3.0 + 2.5 * distance + 0.5 * duration * (speed < 12) + 1.0 * rush + 0.5 * night
    jfk = (pickup == AIRPORT_ZONES[0]) | (dropoff == AIRPORT_ZONES[0])
    fare = np.where(jfk & (u[:, 5] < 0.8), 70.0, metered) + rng.normal(0.0, 1.2, size=n)
    fare = np.clip(fare, 3.0, 500.0).round(2)
    payment = np.where(rng.random(n) < 0.72, 1, 2)  # 1 credit card, 2 cash
    tip = np.where(payment == 1, (fare * rng.uniform(0.1, 0.25, size=n)).round(2), 0.0)
    return {
        "tpep_pickup_datetime": pickup_ts,
        "tpep_dropoff_datetime": dropoff_ts,
        "PULocationID": pickup.astype(np.int32),
        "DOLocationID": dropoff.astype(np.int32),
        "passenger_count": passengers.astype(np.int32),
        "trip_distance": distance,
        "payment_type": payment.astype(np.int32),
        "fare_amount": fare,
        "tip_amount": tip,
        "total_amount": (fare + tip + 0.5 + 2.5).round(2),
        # derived features
        "duration_min": duration,
        "pickup_hour": hour,
        "pickup_weekday": weekday,
        "airport": airport.astype(np.int64),
        "rush_hour": rush,
    }


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ (Parquet) and schema.json; return the schema."""
    import pandas as pd

    refuse_options(name, options)
    rng = np.random.default_rng(seed)
    cols = _trips(rows, rng)
    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    raw_names = [
        "tpep_pickup_datetime",
        "tpep_dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "passenger_count",
        "trip_distance",
        "payment_type",
        "fare_amount",
        "tip_amount",
        "total_amount",
    ]
    pd.DataFrame({k: cols[k] for k in raw_names}).to_parquet(
        out_dir / "raw" / "trips.parquet", index=False
    )
    table = pd.DataFrame(
        {
            LABEL: cols[LABEL],
            "trip_distance": cols["trip_distance"],
            "duration_min": cols["duration_min"],
            "passenger_count": cols["passenger_count"].astype(np.float64),
            "pickup_hour": cols["pickup_hour"].astype(np.float64),
            "pickup_weekday": cols["pickup_weekday"].astype(np.float64),
            "pickup_zone": cols["PULocationID"].astype(np.float64),
            "dropoff_zone": cols["DOLocationID"].astype(np.float64),
            "airport": cols["airport"].astype(np.float64),
            "rush_hour": cols["rush_hour"].astype(np.float64),
        }
    )
    order = rng.permutation(rows)
    k = round(rows * validation_fraction)
    val_idx, train_idx = np.sort(order[:k]), np.sort(order[k:])
    table.iloc[train_idx].to_parquet(out_dir / "train" / "part-0.parquet", index=False)
    table.iloc[val_idx].to_parquet(out_dir / "validation" / "part-0.parquet", index=False)
    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": LABEL,
        "features": FEATURES,
        "content_type": "application/x-parquet",
        "files": {
            "raw": "raw/trips.parquet",
            "train": "train/part-0.parquet",
            "validation": "validation/part-0.parquet",
        },
        "train_rows": len(train_idx),
        "validation_rows": len(val_idx),
        "positive_rate": None,
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
