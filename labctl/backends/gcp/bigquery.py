"""The BigQuery side of the gcp target: load jobs and the SQL of the labs' BigQuery (ML) steps.

Each function returns what one step submits (load job configs, or SQL statements with their
QueryJobConfig), so tests assert on the real request objects; `labctl.backends.gcp` runs them.
Names from the catalog are checked against BigQuery's identifier rules before they reach SQL.

- `bigquery` + `tables`: one load job per table from the data step's `raw/<table>.csv`
  (CSV with header, schema autodetected, WRITE_TRUNCATE, day-partitioned on `partition_by`
  when the table has that column);
- `bigquery` + `lags_days`: a view of lag, rolling-mean and calendar features per series;
- `bigquery-ml` + `transforms`: a feature table with ML.STANDARD_SCALER / ML.ONE_HOT_ENCODER
  used as analytic functions (`OVER ()`);
- `bigquery-ml` + `model_type: ARIMA_PLUS`: CREATE MODEL on all but the last `horizon` days,
  ML.EVALUATE on those days, ML.FORECAST `horizon` days ahead, results as tables.
"""

from __future__ import annotations

import re
from typing import Any

from google.cloud import bigquery

from labctl.catalog import ServiceStep
from labctl.errors import Unsupported

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SCALED = ("user_count", "user_mean", "movie_count", "movie_mean")


def ident(value: Any, what: str, step: str) -> str:
    """A BigQuery identifier from the catalog, or Unsupported naming the step."""
    text = str(value)
    if not _IDENT.match(text):
        raise Unsupported(f"step '{step}': {what} '{text}' is not a valid BigQuery identifier")
    return text


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def kind(step: ServiceStep) -> str:
    """Which of the four supported shapes a BigQuery step is: load, features, transforms, arima."""
    settings = step.settings
    if step.service == "bigquery" and "lags_days" in settings:
        return "features"
    if step.service == "bigquery" and "tables" in settings:
        return "load"
    if step.service == "bigquery-ml" and str(settings.get("model_type", "")).upper() == (
        "ARIMA_PLUS"
    ):
        return "arima"
    if step.service == "bigquery-ml" and "transforms" in settings:
        return "transforms"
    raise Unsupported(
        f"step '{step.name}': labctl cannot run {step.service} with settings "
        f"{sorted(settings)} yet",
        hint="supported: bigquery tables | lags_days; bigquery-ml transforms | ARIMA_PLUS",
    )


def load_jobs(
    step: ServiceStep,
    *,
    source: str,
    table_prefix: str,
    columns: dict[str, list[str]],
    labels: dict[str, str],
) -> list[tuple[str, str, bigquery.LoadJobConfig]]:
    """(gs:// uri, table id, LoadJobConfig) per table; `columns` are each CSV's header."""
    partition = step.settings.get("partition_by")
    jobs = []
    for table in _list(step.settings["tables"]):
        name = ident(table, "table", step.name)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.CSV,
            skip_leading_rows=1,
            autodetect=True,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            labels=labels,
        )
        if partition and str(partition) in columns.get(name, []):
            config.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY,
                field=ident(partition, "partition_by", step.name),
            )
        jobs.append((f"{source}{name}.csv", f"{table_prefix}.{name}", config))
    return jobs


def _query(sql: str, labels: dict[str, str]) -> tuple[str, bigquery.QueryJobConfig]:
    return sql, bigquery.QueryJobConfig(labels=labels, use_legacy_sql=False)


def features_sql(
    step: ServiceStep, dataset: str, labels: dict[str, str]
) -> list[tuple[str, bigquery.QueryJobConfig]]:
    """A view `features` over `train`: lags, rolling means and calendar columns per series."""
    s = step.settings
    lags = [int(d) for d in _list(s.get("lags_days", [1, 7]))]
    windows = [int(w) for w in _list(s.get("rolling_windows_days", [7]))]
    calendar = [str(c) for c in _list(s.get("calendar", []))]
    series = "PARTITION BY t.store_nbr, t.family ORDER BY t.date"
    cols = [f"LAG(t.sales, {d}) OVER ({series}) AS lag_{d}" for d in lags]
    cols += [
        f"AVG(t.sales) OVER ({series} ROWS BETWEEN {w} PRECEDING AND 1 PRECEDING) "
        f"AS rolling_mean_{w}"
        for w in windows
    ]
    known = {
        "day_of_week": "EXTRACT(DAYOFWEEK FROM t.date) AS day_of_week",
        "month": "EXTRACT(MONTH FROM t.date) AS month",
        "holiday": "IF(h.date IS NULL, 0, 1) AS holiday",
        "payday": "IF(EXTRACT(DAY FROM t.date) = 15 OR t.date = LAST_DAY(t.date), 1, 0) AS payday",
    }
    unknown = [c for c in calendar if c not in known]
    if unknown:
        raise Unsupported(
            f"step '{step.name}': unknown calendar feature(s) {unknown}",
            hint=f"known: {', '.join(known)}",
        )
    cols += [known[c] for c in calendar]
    join = ""
    if "holiday" in calendar:
        join = (
            f"\nLEFT JOIN (SELECT DISTINCT date FROM `{dataset}.holidays_events` "
            "WHERE NOT transferred) AS h\n  ON h.date = t.date"
        )
    sql = (
        f"CREATE OR REPLACE VIEW `{dataset}.features` AS\nSELECT\n  t.*,\n  "
        + ",\n  ".join(cols)
        + f"\nFROM `{dataset}.train` AS t{join}"
    )
    return [_query(sql, labels)]


def transforms_sql(
    step: ServiceStep, dataset: str, labels: dict[str, str]
) -> list[tuple[str, bigquery.QueryJobConfig]]:
    """User/movie rating statistics, scaled and one-hot encoded, into `output_table`."""
    s = step.settings
    out = ident(s.get("output_table", "training_features"), "output_table", step.name)
    transforms = [str(t).upper() for t in _list(s.get("transforms", []))]
    known = {"ML.STANDARD_SCALER", "ML.ONE_HOT_ENCODER"}
    if set(transforms) - known:
        raise Unsupported(
            f"step '{step.name}': unsupported transform(s) {sorted(set(transforms) - known)}",
            hint=f"known: {sorted(known)}",
        )
    cols = ["user_id", "movie_id", "rating", *SCALED, "genre"]
    if "ML.STANDARD_SCALER" in transforms:
        cols += [f"ML.STANDARD_SCALER({c}) OVER () AS {c}_scaled" for c in SCALED]
    if "ML.ONE_HOT_ENCODER" in transforms:
        cols.append("ML.ONE_HOT_ENCODER(genre) OVER () AS genre_onehot")
    sql = (
        f"CREATE OR REPLACE TABLE `{dataset}.{out}` AS\n"
        "WITH stats AS (\n"
        "  SELECT r.user_id, r.movie_id, r.rating,\n"
        "    COUNT(*) OVER (PARTITION BY r.user_id) AS user_count,\n"
        "    AVG(r.rating) OVER (PARTITION BY r.user_id) AS user_mean,\n"
        "    COUNT(*) OVER (PARTITION BY r.movie_id) AS movie_count,\n"
        "    AVG(r.rating) OVER (PARTITION BY r.movie_id) AS movie_mean,\n"
        "    SPLIT(m.genres, '|')[SAFE_OFFSET(0)] AS genre\n"
        f"  FROM `{dataset}.ratings` AS r\n"
        f"  JOIN `{dataset}.movies` AS m USING (movie_id)\n"
        ")\n"
        "SELECT\n  " + ",\n  ".join(cols) + "\nFROM stats"
    )
    return [_query(sql, labels)]


def arima_sql(
    step: ServiceStep, dataset: str, labels: dict[str, str]
) -> list[tuple[str, bigquery.QueryJobConfig]]:
    """CREATE MODEL ARIMA_PLUS (holding out `horizon` days), ML.EVALUATE, ML.FORECAST."""
    s = step.settings
    horizon = int(s.get("horizon", 16))  # type: ignore[arg-type]
    if not 1 <= horizon <= 10_000:
        raise Unsupported(f"step '{step.name}': horizon {horizon} is outside 1..10000")
    series = ident(s.get("time_series_id_col", "store_family"), "time_series_id_col", step.name)
    options = [
        "model_type = 'ARIMA_PLUS'",
        "time_series_timestamp_col = 'date'",
        "time_series_data_col = 'sales'",
        f"time_series_id_col = '{series}'",
        f"horizon = {horizon}",
        f"auto_arima = {'TRUE' if s.get('auto_arima', True) else 'FALSE'}",
    ]
    region = s.get("holiday_region")
    if region:
        if not re.fullmatch(r"[A-Z]{2,6}", str(region)):
            raise Unsupported(f"step '{step.name}': holiday_region '{region}' is not a region code")
        options.append(f"holiday_region = '{region}'")
    model = f"`{dataset}.sales_arima`"
    cutoff = f"DATE_SUB((SELECT MAX(date) FROM `{dataset}.train`), INTERVAL {horizon} DAY)"
    source = (
        f"SELECT date, CONCAT(CAST(store_nbr AS STRING), '-', family) AS {series}, "
        f"SUM(sales) AS sales\nFROM `{dataset}.train`\nWHERE date {{op}} {cutoff}\n"
        f"GROUP BY date, {series}"
    )
    statements = [
        f"CREATE OR REPLACE MODEL {model}\nOPTIONS (\n  "
        + ",\n  ".join(options)
        + ")\nAS\n"
        + source.format(op="<="),
        f"CREATE OR REPLACE TABLE `{dataset}.arima_evaluation` AS\nSELECT * FROM ML.EVALUATE("
        f"MODEL {model}, (\n"
        + source.format(op=">")
        + f"\n), STRUCT({horizon} AS horizon, TRUE AS perform_aggregation))",
        f"CREATE OR REPLACE TABLE `{dataset}.arima_forecast` AS\nSELECT * FROM ML.FORECAST("
        f"MODEL {model}, STRUCT({horizon} AS horizon, 0.9 AS confidence_level))",
    ]
    return [_query(sql, labels) for sql in statements]


def statements(
    step: ServiceStep, dataset: str, labels: dict[str, str]
) -> list[tuple[str, bigquery.QueryJobConfig]]:
    """The SQL a features / transforms / ARIMA step runs, in order."""
    builders = {"features": features_sql, "transforms": transforms_sql, "arima": arima_sql}
    return builders[kind(step)](step, dataset, labels)
