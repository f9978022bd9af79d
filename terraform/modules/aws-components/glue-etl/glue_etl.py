"""labctl Glue job: the raw zone (JSON lines, as Firehose delivers them) -> training channels.

Reads every object under --raw_path, keeps the rows with a label, puts the label column first
(the SageMaker built-in convention: CSV without a header, label first), one-hot free: string
columns other than the label are dropped, numeric ones cast to double, and writes
--output_path/train/ and --output_path/validation/ (a seeded random split).

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


def transform(frame, label: str):
    """Label first, numeric features as doubles, rows without a label dropped."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    if label not in frame.columns:
        raise SystemExit(f"no '{label}' column in the raw records: {frame.columns}")
    features = [
        f.name
        for f in frame.schema.fields
        if f.name != label and isinstance(f.dataType, NumericType | BooleanType)
    ]
    columns = [F.col(label).cast("double").alias(label)]
    columns += [F.col(c).cast("double").alias(c) for c in features]
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
