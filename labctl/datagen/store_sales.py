"""Daily sales per store and product family, shaped like Kaggle's Favorita "Store Sales" data.

`rows` is the number of (store, family, day) rows: the generator picks stores x families (54 x 33
at the full size, as Favorita) and as many days as fit. Sales follow a per-series level, a slow
trend, weekly and yearly seasonality, national holidays, paydays (the 15th and the month's last
day), promotions and the oil price, with gamma noise and zero-sales days.

Written under `out_dir`:

- `raw/train.csv` (id, date, store_nbr, family, sales, onpromotion), `raw/stores.csv`,
  `raw/oil.csv`, `raw/holidays_events.csv`, `raw/transactions.csv`: the lab's five BigQuery
  tables, with headers;
- `train/sales.csv`, `validation/sales.csv`: the forecaster's channels, no header, label first:
  `sales` then `FEATURES` (calendar, promotion, oil, and lag / rolling-mean features computed
  per series so that every lag is at least `horizon` days old: a direct multi-step forecast).
  The split is on time: the last `validation_fraction` of the days (at least `horizon`) are
  validation; the first 28 + horizon days (no full lag history) are left out of both;
- `schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labctl.datagen import refuse_options

# fmt: off
FAMILIES = (
    "AUTOMOTIVE", "BABY CARE", "BEAUTY", "BEVERAGES", "BOOKS", "BREAD/BAKERY", "CELEBRATION",
    "CLEANING", "DAIRY", "DELI", "EGGS", "FROZEN FOODS", "GROCERY I", "GROCERY II", "HARDWARE",
    "HOME AND KITCHEN I", "HOME AND KITCHEN II", "HOME APPLIANCES", "HOME CARE", "LADIESWEAR",
    "LAWN AND GARDEN", "LINGERIE", "LIQUOR,WINE,BEER", "MAGAZINES", "MEATS", "PERSONAL CARE",
    "PET SUPPLIES", "PLAYERS AND ELECTRONICS", "POULTRY", "PREPARED FOODS", "PRODUCE",
    "SCHOOL AND OFFICE SUPPLIES", "SEAFOOD",
)
# fmt: on
CITIES = ("Quito", "Guayaquil", "Cuenca", "Santo Domingo", "Manta", "Ambato", "Machala", "Loja")
HOLIDAYS = ((1, 1), (5, 1), (5, 24), (8, 10), (10, 9), (11, 2), (11, 3), (12, 25))  # (month, day)
START = np.datetime64("2013-01-01")
MAX_LAG = 28


def features(horizon: int) -> list[str]:
    """The channel's feature columns (after the `sales` label) for a forecast `horizon`."""
    lags = sorted({horizon, horizon + 7, max(MAX_LAG, horizon + 14)})
    return [
        "store_nbr",
        "family_code",
        "onpromotion",
        "day_of_week",
        "month",
        "day_of_month",
        "holiday",
        "payday",
        "oil",
        *[f"lag_{d}" for d in lags],
        f"rolling_mean_7_lag_{horizon}",
        f"rolling_mean_28_lag_{horizon}",
    ]


def _shifted(matrix: np.ndarray, days: int) -> np.ndarray:
    """Each series' values `days` earlier (NaN before the start)."""
    out = np.full_like(matrix, np.nan)
    out[:, days:] = matrix[:, :-days]
    return out


def _rolling_mean(matrix: np.ndarray, window: int, lag: int) -> np.ndarray:
    """Mean of the `window` days ending `lag` days before each day (NaN when incomplete)."""
    csum = np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)
    means = (csum[:, window:] - csum[:, :-window]) / window  # means[t] = mean(x[t : t + window])
    out = np.full_like(matrix, np.nan)
    start = lag + window - 1  # day t uses x[t - lag - window + 1 : t - lag + 1]
    out[:, start:] = means[:, : matrix.shape[1] - start]
    return out


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    horizon: int = 16,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json; return the schema."""
    refuse_options(name, options)
    rng = np.random.default_rng(seed)
    series = max(4, min(54 * 33, rows // 800))
    n_fam = min(len(FAMILIES), max(2, series // 6))
    n_st = max(2, min(54, series // n_fam))
    n_series = n_st * n_fam
    warmup = MAX_LAG + horizon + 14
    days = max(warmup + 2 * horizon + 30, rows // n_series)
    dates = START + np.arange(days)
    month = (dates.astype("datetime64[M]").astype(np.int64) % 12) + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    dow = (dates.astype(np.int64) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    next_month = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
    payday = ((dom == 15) | (dates == next_month - 1)).astype(np.int64)
    holiday = np.zeros(days, dtype=np.int64)
    for m, d in HOLIDAYS:
        holiday |= (month == m) & (dom == d)
    oil = np.clip(95 + np.cumsum(rng.normal(-0.02, 1.2, days)), 26, 110).round(2)

    store = np.repeat(np.arange(n_st), n_fam)
    family = np.tile(np.arange(n_fam), n_st)
    level = rng.lognormal(4.0, 1.3, n_fam)[family] * rng.lognormal(0.0, 0.4, n_st)[store]
    weekly = (
        1
        + rng.uniform(0.05, 0.35, n_series)[:, None]
        * np.array([-0.3, -0.4, -0.3, -0.2, 0.1, 0.6, 0.5])[dow]
    )
    t = np.arange(days) / 365.0
    yearly = 1 + 0.12 * np.sin(2 * np.pi * (t - rng.uniform(0, 1, n_series)[:, None]))
    trend = (1 + rng.normal(0.05, 0.05, n_series)[:, None]) ** t
    promo = (rng.random((n_series, days)) < rng.uniform(0.02, 0.3, n_series)[:, None]) * (
        rng.integers(1, 40, (n_series, days))
    )
    effect = (
        level[:, None]
        * weekly
        * yearly
        * trend
        * (1 + 0.35 * holiday + 0.15 * payday)[None, :]
        * (1 + 0.02 * np.minimum(promo, 20))
        * (1 - 0.002 * (oil - 70))[None, :]
    )
    sales = rng.gamma(4.0, effect / 4.0)
    sales[rng.random(sales.shape) < 0.04] = 0.0
    closed = rng.random(n_st) < 0.15  # a few stores open late: zero sales at first
    opening = np.where(closed, rng.integers(30, max(31, days // 3), n_st), 0)[store]
    sales[np.arange(days)[None, :] < opening[:, None]] = 0.0
    sales = sales.round(3)

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    fam_names = np.asarray(FAMILIES[:n_fam], dtype=object)
    date_text = np.datetime_as_string(dates)
    pd.DataFrame(
        {
            "id": np.arange(n_series * days),
            "date": np.tile(date_text, n_series),
            "store_nbr": np.repeat(store + 1, days),
            "family": np.repeat(fam_names[family], days),
            "sales": sales.ravel(),
            "onpromotion": promo.ravel(),
        }
    ).to_csv(out_dir / "raw" / "train.csv", index=False)
    pd.DataFrame(
        {
            "store_nbr": np.arange(1, n_st + 1),
            "city": np.asarray(CITIES)[rng.integers(0, len(CITIES), n_st)],
            "state": "Pichincha",
            "type": np.asarray(list("ABCDE"))[rng.integers(0, 5, n_st)],
            "cluster": rng.integers(1, 18, n_st),
        }
    ).to_csv(out_dir / "raw" / "stores.csv", index=False)
    pd.DataFrame({"date": date_text, "dcoilwtico": oil}).to_csv(
        out_dir / "raw" / "oil.csv", index=False
    )
    hol = np.flatnonzero(holiday)
    pd.DataFrame(
        {
            "date": date_text[hol],
            "type": "Holiday",
            "locale": "National",
            "locale_name": "Ecuador",
            "description": [
                f"Holiday {m:02d}-{d:02d}" for m, d in zip(month[hol], dom[hol], strict=False)
            ],
            "transferred": False,
        }
    ).to_csv(out_dir / "raw" / "holidays_events.csv", index=False)
    per_store = sales.reshape(n_st, n_fam, days).sum(axis=1)
    pd.DataFrame(
        {
            "date": np.tile(date_text, n_st),
            "store_nbr": np.repeat(np.arange(1, n_st + 1), days),
            "transactions": np.rint(per_store / 9.0 + 50).astype(np.int64).ravel(),
        }
    ).to_csv(out_dir / "raw" / "transactions.csv", index=False)

    names = features(horizon)
    lags = [int(n.removeprefix("lag_")) for n in names if n.startswith("lag_")]
    grid = np.broadcast_to
    columns = [
        sales,
        grid((store + 1)[:, None], sales.shape),
        grid(family[:, None], sales.shape),
        promo,
        grid(dow, sales.shape),
        grid(month, sales.shape),
        grid(dom, sales.shape),
        grid(holiday, sales.shape),
        grid(payday, sales.shape),
        grid(oil, sales.shape),
        *[_shifted(sales, d) for d in lags],
        _rolling_mean(sales, 7, horizon),
        _rolling_mean(sales, 28, horizon),
    ]
    table = np.stack(columns, axis=-1)[:, warmup:, :]  # (series, usable days, 1 + features)
    usable = days - warmup
    n_val_days = min(usable - horizon, max(horizon, round(usable * validation_fraction)))
    fmt = ["%.3f", *(["%d"] * 8), "%.2f", *(["%.3f"] * (len(names) - 9))]
    train = table[:, : usable - n_val_days].reshape(-1, table.shape[-1])
    val = table[:, usable - n_val_days :].reshape(-1, table.shape[-1])
    np.savetxt(out_dir / "train" / "sales.csv", train, fmt=fmt, delimiter=",")
    np.savetxt(out_dir / "validation" / "sales.csv", val, fmt=fmt, delimiter=",")

    schema: dict[str, Any] = {
        "generator": name,
        "rows": n_series * days,
        "seed": seed,
        "label": "sales",
        "features": names,
        "content_type": "text/csv",
        "files": {
            "raw": "raw/train.csv",
            "train": "train/sales.csv",
            "validation": "validation/sales.csv",
        },
        "tables": {
            t: f"raw/{t}.csv" for t in ("train", "stores", "oil", "holidays_events", "transactions")
        },
        "train_rows": len(train),
        "validation_rows": len(val),
        "stores": n_st,
        "families": n_fam,
        "days": days,
        "start": str(START),
        "horizon": horizon,
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
