"""labctl Glue job: the raw zone (JSON lines, as Firehose delivers them) -> training channels.

Reads every object under --raw_path (every level: Firehose writes yyyy/MM/dd/), keeps the rows
with a label (--label), puts it first (the SageMaker built-in convention: CSV without a header,
label first), casts numeric features to double, one-hot encodes string ones with few values, and
writes --output_path/train/ and --output_path/validation/ (a seeded random split).

Runs as a Glue 4.0 job (arguments from getResolvedOptions, job bookmarks when enabled) or with
plain PySpark: `spark-submit glue_etl.py --raw_path DIR --output_path DIR`.
"""

from __future__ import annotations

import argparse
import sys

ARGS = ("raw_path", "output_path", "output_format", "validation_fraction")


def arguments(argv: list[str]) -> dict[str, str]:
    try:  # on Glue
        from awsglue.utils import getResolvedOptions

        names = [*ARGS, "label"] if "--label" in argv else list(ARGS)
        return getResolvedOptions(argv, ["JOB_NAME", *names] if "--JOB_NAME" in argv else names)
    except ImportError:
        parser = argparse.ArgumentParser()
        parser.add_argument("--raw_path", required=True)
        parser.add_argument("--output_path", required=True)
        parser.add_argument("--output_format", default="csv", choices=("csv", "parquet"))
        parser.add_argument("--validation_fraction", default="0.2")
        parser.add_argument("--label", default="label")
        return vars(parser.parse_known_args(argv[1:])[0])


POSITIVE = ("1", "1.0", "yes", "true", "y", "t", "positive")
NEGATIVE = ("0", "0.0", "no", "false", "n", "f", "negative")
MAX_CATEGORIES = 20  # a string column with more distinct values is dropped, not one-hot encoded


def transform(frame, label: str):
    """Label first (yes/no, true/false, 1/0 -> 1.0/0.0; numbers as they are), then numeric
    features as doubles and string features one-hot encoded (up to MAX_CATEGORIES values, in
    sorted order); rows without a label dropped, missing features 0."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType, StringType

    if label not in frame.columns:
        raise SystemExit(f"no '{label}' column in the raw records: {frame.columns}")
    text = F.lower(F.trim(F.col(label).cast("string")))
    target = (
        F.when(text.isin(*POSITIVE), 1.0)
        .when(text.isin(*NEGATIVE), 0.0)
        .otherwise(F.col(label).cast("double"))
    )
    columns = [target.alias(label)]
    for field in frame.schema.fields:
        if field.name == label:
            continue
        if isinstance(field.dataType, NumericType | BooleanType):
            columns.append(F.col(field.name).cast("double").alias(field.name))
        elif isinstance(field.dataType, StringType):
            values = [
                r[0]
                for r in frame.select(field.name).distinct().limit(MAX_CATEGORIES + 1).collect()
                if r[0] is not None
            ]
            if len(values) <= MAX_CATEGORIES:
                columns += [
                    F.when(F.col(field.name) == v, 1.0).otherwise(0.0).alias(f"{field.name}_{v}")
                    for v in sorted(values)
                ]
    return frame.select(*columns).dropna(subset=[label]).fillna(0.0)


def main(argv: list[str]) -> None:
    from pyspark.sql import SparkSession

    args = arguments(argv)
    label = args.get("label", "label")
    spark = SparkSession.builder.appName("labctl-glue-etl").getOrCreate()
    job = None
    if "JOB_NAME" in args:  # job bookmarks need a Glue job context
        from awsglue.context import GlueContext
        from awsglue.job import Job

        job = Job(GlueContext(spark.sparkContext))
        job.init(args["JOB_NAME"], args)
    # Firehose writes <prefix>/yyyy/MM/dd/...: read every level below the raw prefix
    raw = spark.read.option("recursiveFileLookup", "true").json(args["raw_path"])
    rows = transform(raw, label)
    fraction = float(args.get("validation_fraction", "0.2"))
    train, validation = rows.randomSplit([1.0 - fraction, fraction], seed=42)
    out = args["output_path"].rstrip("/")
    for channel, frame in (("train", train), ("validation", validation)):
        writer = frame.coalesce(1).write.mode("overwrite")
        if args.get("output_format", "csv") == "parquet":
            writer.parquet(f"{out}/{channel}/")
        else:
            writer.option("header", "false").csv(f"{out}/{channel}/")
    if job is not None:
        job.commit()


if __name__ == "__main__":
    main(sys.argv)
