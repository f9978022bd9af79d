"""BigQuery and BigQuery ML on this machine: tables as Parquet (or CSV) files, SQL as pandas.

A `service` step's `settings` say what it does, as on the gcp target (labctl.backends.gcp.bigquery):

- `bigquery` with `tables`: load the data step's raw tables (`raw/<table>.csv`) into
  `<bucket>/bigquery/<dataset>/<table>.parquet`;
- `bigquery` with `lags_days`: lag, rolling-window and calendar features of the sales table per
  series (a BigQuery view on the cloud), written as the `features` table;
- `bigquery-ml` with `model_type: ARIMA_PLUS`: a seasonal-naive forecaster per series (the last
  week repeated, scaled by the series' recent trend), evaluated on the last `horizon` days
  (ML.EVALUATE's MAE / RMSE / RMSLE) and its `horizon`-day forecast (ML.FORECAST) as a table;
- `bigquery-ml` with `transforms`: per-user and per-movie rating statistics, standardised
  (ML.STANDARD_SCALER) and genres one-hot encoded (ML.ONE_HOT_ENCODER), as `output_table`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labctl.catalog import DataStep, ServiceStep
from labctl.errors import BackendError

if TYPE_CHECKING:
    import pandas as pd

    from labctl.backends.base import Context


def _data_result(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """The result of the lab's data step (the one before this step)."""
    for s in ctx.lab.steps:
        if isinstance(s, DataStep) and s.name in ctx.results:
            return ctx.results[s.name]
    raise BackendError(f"step '{step.name}' needs the lab's data step to have run first")


def _dataset_dir(step: ServiceStep, ctx: Context) -> Path:
    bucket = Path(ctx.infra.get("bucket") or ctx.workspace / "bucket")
    folder = bucket / "bigquery" / str(step.settings.get("dataset", ctx.lab_name))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write(frame: pd.DataFrame, folder: Path, table: str) -> str:
    try:
        import pyarrow  # noqa: F401

        path = folder / f"{table}.parquet"
        frame.to_parquet(path, index=False)
    except ImportError:
        path = folder / f"{table}.csv"
        frame.to_csv(path, index=False)
    return str(path)


def _read(step: ServiceStep, ctx: Context, table: str) -> pd.DataFrame:
    """A table loaded by an earlier step, else the data step's raw CSV of that name."""
    import pandas as pd

    folder = _dataset_dir(step, ctx)
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        if (folder / f"{table}{suffix}").is_file():
            return reader(folder / f"{table}{suffix}")
    raw = Path(_data_result(step, ctx)["dir"]) / "raw" / f"{table}.csv"
    if not raw.is_file():
        raise BackendError(f"step '{step.name}': no table '{table}' (looked for {raw})")
    return pd.read_csv(raw)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# --- bigquery -------------------------------------------------------------------------------


def bigquery(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Load tables, or build time-series features, as the step's settings say."""
    if "lags_days" in step.settings:
        return time_series_features(step, ctx)
    tables = _as_list(step.settings.get("tables", []))
    if not tables:
        raise BackendError(f"step '{step.name}': bigquery settings need `tables` or `lags_days`")
    raw = Path(_data_result(step, ctx)["dir"]) / "raw"
    missing = [t for t in tables if not (raw / f"{t}.csv").is_file()]
    if missing:
        raise BackendError(
            f"step '{step.name}': the data step wrote no {', '.join(f'{t}.csv' for t in missing)}"
        )
    import pandas as pd

    folder = _dataset_dir(step, ctx)
    written, rows = {}, {}
    for table in tables:
        frame = pd.read_csv(raw / f"{table}.csv")
        written[table] = _write(frame, folder, table)
        rows[table] = len(frame)
    return {
        "dataset": str(folder),
        "tables": written,
        "table_rows": rows,
        "analogue": "BigQuery load jobs -> local Parquet tables",
    }


def time_series_features(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Lag, rolling-mean and calendar features per (store_nbr, family), as the SQL view has."""
    import pandas as pd

    sales = _read(step, ctx, "train")
    sales["date"] = pd.to_datetime(sales["date"])
    sales = sales.sort_values(["store_nbr", "family", "date"]).reset_index(drop=True)
    group = sales.groupby(["store_nbr", "family"], sort=False)["sales"]
    lags = [int(d) for d in _as_list(step.settings.get("lags_days", [1, 7]))]
    windows = [int(w) for w in _as_list(step.settings.get("rolling_windows_days", [7]))]
    for d in lags:
        sales[f"lag_{d}"] = group.shift(d)
    shifted = group.shift(1)
    keys = [sales["store_nbr"], sales["family"]]
    for w in windows:
        sales[f"rolling_mean_{w}"] = shifted.groupby(keys).transform(
            lambda s, w=w: s.rolling(w, min_periods=w).mean()
        )
    calendar = _as_list(step.settings.get("calendar", []))
    if "day_of_week" in calendar:
        sales["day_of_week"] = sales["date"].dt.dayofweek + 1
    if "month" in calendar:
        sales["month"] = sales["date"].dt.month
    if "holiday" in calendar:
        try:
            holidays = _read(step, ctx, "holidays_events")
            days = set(pd.to_datetime(holidays["date"]))
        except BackendError:
            days = set()
        sales["holiday"] = sales["date"].isin(days).astype(int)
    if "payday" in calendar:
        sales["payday"] = ((sales["date"].dt.day == 15) | sales["date"].dt.is_month_end).astype(int)
    path = _write(sales, _dataset_dir(step, ctx), "features")
    columns = [c for c in sales.columns if c.startswith(("lag_", "rolling_"))]
    return {
        "table": path,
        "rows": len(sales),
        "features": columns + list(calendar),
        "analogue": "a BigQuery view of window functions -> pandas groupby",
    }


# --- bigquery-ml ----------------------------------------------------------------------------


def bigquery_ml(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """An ARIMA_PLUS-like forecast, or BQML feature transforms, as the settings say."""
    model_type = str(step.settings.get("model_type", "")).upper()
    if model_type == "ARIMA_PLUS":
        return forecast(step, ctx)
    if "transforms" in step.settings:
        return rating_features(step, ctx)
    raise BackendError(
        f"step '{step.name}': no local analogue for BigQuery ML settings {sorted(step.settings)}",
        hint="supported: model_type ARIMA_PLUS, or transforms (ML.STANDARD_SCALER, ...)",
    )


def forecast(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Seasonal-naive per series: evaluate on the last `horizon` days, then forecast ahead."""
    import pandas as pd

    horizon = int(step.settings.get("horizon", 16))
    sales = _read(step, ctx, "train")
    sales["date"] = pd.to_datetime(sales["date"])
    wide = (
        sales.pivot_table(
            index="date", columns=["store_nbr", "family"], values="sales", aggfunc="sum"
        )
        .sort_index()
        .fillna(0.0)
    )
    values = wide.to_numpy()
    if len(values) < horizon + 28:
        raise BackendError(
            f"step '{step.name}': {len(values)} days is too short to forecast {horizon} ahead"
        )

    def seasonal_naive(history: np.ndarray, steps: int) -> np.ndarray:
        week = history[-7:]
        recent, before = history[-28:].mean(axis=0), history[-56:-28].mean(axis=0)
        trend = np.where(before > 0, np.clip(recent / np.maximum(before, 1e-9), 0.5, 2.0), 1.0)
        reps = np.tile(week, (steps // 7 + 1, 1))[:steps]
        return reps * (1 + (trend - 1) * np.arange(1, steps + 1)[:, None] / 28)

    pred = np.maximum(seasonal_naive(values[:-horizon], horizon), 0)
    actual = values[-horizon:]
    metrics = {
        "bqml:mean_absolute_error": float(np.abs(pred - actual).mean()),
        "bqml:root_mean_squared_error": float(np.sqrt(((pred - actual) ** 2).mean())),
        "bqml:rmsle": float(np.sqrt(((np.log1p(pred) - np.log1p(actual)) ** 2).mean())),
    }
    ahead = np.maximum(seasonal_naive(values, horizon), 0)
    dates = pd.date_range(wide.index[-1] + pd.Timedelta(days=1), periods=horizon)
    table = pd.DataFrame(ahead, index=dates, columns=wide.columns).stack(
        ["store_nbr", "family"], future_stack=True
    )
    frame = table.rename("forecast_value").reset_index().rename(columns={"level_0": "date"})
    frame["store_family"] = frame["store_nbr"].astype(str) + "-" + frame["family"].astype(str)
    path = _write(frame, _dataset_dir(step, ctx), "forecast")
    return {
        "forecast_table": path,
        "series": values.shape[1],
        "horizon": horizon,
        "metrics": metrics,
        "analogue": "ARIMA_PLUS -> seasonal naive with trend (ML.EVALUATE / ML.FORECAST)",
    }


def rating_features(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """User and movie rating counts and means, standardised, plus one-hot genres."""
    import pandas as pd

    ratings = _read(step, ctx, "ratings")
    movies = _read(step, ctx, "movies")
    users = ratings.groupby("user_id")["rating"].agg(user_count="count", user_mean="mean")
    items = ratings.groupby("movie_id")["rating"].agg(movie_count="count", movie_mean="mean")
    frame = ratings.join(users, on="user_id").join(items, on="movie_id")
    transforms = [str(t).upper() for t in _as_list(step.settings.get("transforms", []))]
    stats = ["user_count", "user_mean", "movie_count", "movie_mean"]
    if "ML.STANDARD_SCALER" in transforms:
        for col in stats:
            std = frame[col].std(ddof=0)
            frame[f"{col}_scaled"] = (frame[col] - frame[col].mean()) / (std if std else 1.0)
    if "ML.ONE_HOT_ENCODER" in transforms:
        genre = movies.set_index("movie_id")["genres"].str.split("|").str[0]
        onehot = pd.get_dummies(genre, prefix="genre", dtype=int)
        frame = frame.join(onehot, on="movie_id")
    table = str(step.settings.get("output_table", "training_features"))
    path = _write(frame, _dataset_dir(step, ctx), table)
    return {
        "table": path,
        "rows": len(frame),
        "columns": len(frame.columns),
        "transforms": transforms,
        "analogue": "BigQuery ML TRANSFORM functions -> pandas",
    }


SERVICES = {"bigquery": bigquery, "bigquery-ml": bigquery_ml}
