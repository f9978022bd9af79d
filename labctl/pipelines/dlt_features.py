"""The feature-store-pipeline lab's Delta Live Tables pipeline: bronze -> silver -> gold.

One file, two runners:

- on Databricks, Terraform uploads this file as a workspace file and names it as the source of
  the lab's `databricks_pipeline`; inside the pipeline `import dlt` succeeds and the `@dlt.table`
  definitions at the bottom declare the tables, with the expectations as `expect_all_or_drop`;
- on this machine (the local target, `labctl[spark]`), `labctl.analogues.databricks` runs the SAME
  transformation functions on a local Spark session and applies the same expectations itself.

The transformations are plain functions of DataFrames (no `dlt`, no paths), so both runners share
them. The bronze input is the Parquet the lab's data step wrote (`labctl.bronze_path` in the
pipeline's configuration). Standard library and pyspark only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# name -> SQL condition every kept row meets (DLT: expect_all_or_drop). A NULL result fails.
EXPECTATIONS = {
    "valid_customer": "customer_id IS NOT NULL",
    "positive_price": "price > 0",
    "non_negative_quantity": "quantity >= 0",
}
BRONZE = "bronze_transactions"
SILVER = "silver_transactions"


def silver_transactions(bronze: DataFrame) -> DataFrame:
    """Cleaned events (after the expectations drop bad rows): integer customer ids."""
    from pyspark.sql import functions as F

    return bronze.withColumn("customer_id", F.col("customer_id").cast("long"))


def gold_daily_customer(silver: DataFrame) -> DataFrame:
    """Views, purchases and spend per customer and day."""
    from pyspark.sql import functions as F

    return (
        silver.withColumn("day", F.date_trunc("day", "event_ts"))
        .groupBy("customer_id", "day")
        .agg(
            F.count("event_id").alias("views"),
            F.sum("purchased").alias("purchases"),
            F.sum("price").alias("spend"),
        )
    )


def gold_daily_product(silver: DataFrame) -> DataFrame:
    """Views and purchases per product and day."""
    from pyspark.sql import functions as F

    return (
        silver.withColumn("day", F.date_trunc("day", "event_ts"))
        .groupBy("product_id", "day")
        .agg(F.count("event_id").alias("views"), F.sum("purchased").alias("purchases"))
    )


# table -> (the table it reads, its transformation); bronze is read as it is
TRANSFORMS = {
    SILVER: (BRONZE, silver_transactions),
    "gold_daily_customer": (SILVER, gold_daily_customer),
    "gold_daily_product": (SILVER, gold_daily_product),
}


def passes(rule: str):  # -> Column
    """The expectation as a boolean column; NULL counts as failed (as DLT drops it)."""
    from pyspark.sql import functions as F

    return F.coalesce(F.expr(rule), F.lit(False))


def apply_expectations(
    frame: DataFrame, expectations: dict[str, str]
) -> tuple[DataFrame, dict[str, int]]:
    """Rows meeting every expectation, and per expectation how many rows failed it (each counted
    on the same input, as DLT's event log reports `failed_records`)."""
    from pyspark.sql import functions as F

    if not expectations:
        return frame, {}
    counts = frame.agg(
        *[F.sum(F.when(passes(rule), 0).otherwise(1)).alias(name)
          for name, rule in expectations.items()]
    ).first()  # fmt: skip
    dropped = {name: int(counts[name] or 0) for name in expectations}
    kept = frame
    for rule in expectations.values():
        kept = kept.filter(passes(rule))
    return kept, dropped


def run_tables(bronze: DataFrame, *, expectations: bool = True) -> tuple[dict, dict[str, int]]:
    """Every table of the pipeline from the bronze DataFrame (the local runner):
    ({table: DataFrame}, {expectation: rows dropped})."""
    tables = {BRONZE: bronze}
    checked, dropped = apply_expectations(bronze, EXPECTATIONS if expectations else {})
    for name, (source, transform) in TRANSFORMS.items():
        tables[name] = transform(checked if source == BRONZE else tables[source])
    return tables, dropped


# --- the Delta Live Tables definitions (only inside a pipeline, where `dlt` exists) -----------

try:
    import dlt  # type: ignore[import-not-found]
except ImportError:  # not in a DLT pipeline: the functions above are the whole module
    dlt = None

if dlt is not None:  # pragma: no cover - runs inside a Databricks pipeline only
    from pyspark.sql import SparkSession

    _spark = SparkSession.getActiveSession()
    _conf = _spark.conf
    _CHECKED = _conf.get("labctl.expectations", "true").lower() == "true"

    @dlt.table(name=BRONZE, comment="Raw product views from the lab's data step (labctl)")
    def _bronze():
        return _spark.read.parquet(_conf.get("labctl.bronze_path"))

    def _declare(name: str, source: str, transform) -> None:
        def table():
            return transform(dlt.read(source))

        table.__name__ = name
        if source == BRONZE and _CHECKED:
            table = dlt.expect_all_or_drop(EXPECTATIONS)(table)
        dlt.table(name=name, comment=(transform.__doc__ or "").strip())(table)

    for _name, (_source, _transform) in TRANSFORMS.items():
        _declare(_name, _source, _transform)
