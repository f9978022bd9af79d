"""Windowed sales features as an Apache Beam pipeline: the `dataflow` step of sales-forecasting.

Sales events (`store_nbr`, `family`, `date` or `event_time`, `sales`, `onpromotion`) are keyed
by series, cut into fixed event-time windows of each size in `windows_minutes`, and summed per
window: one row per (series, window) with the window's bounds, event count, sales sum and mean
and promoted events. The same transforms run on both runners; only the ends differ:

- locally (DirectRunner): the data step's `raw/train.csv` in, JSON lines files out
  (`features_<minutes>m.jsonl`), see `run_local`;
- on Dataflow (gcp target): the lab's Pub/Sub subscription in (JSON messages, event time from
  their `event_time` attribute, else publish time), the lab's BigQuery table out, as a streaming
  job (`labctl.backends.gcp.dataflow` builds its options).

The Dataflow launcher job and the workers install this module from the small package
`labctl.backends.gcp.package.build_beam_package` builds, so it imports only Apache Beam and
the standard library.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import FixedWindows, TimestampedValue

MODULE = "labctl.pipelines.beam_sales_features"  # labctl.pipelines.BEAM_MODULE
TABLE_FIELDS = (
    ("store_nbr", "INTEGER"),
    ("family", "STRING"),
    ("window_minutes", "INTEGER"),
    ("window_start", "TIMESTAMP"),
    ("window_end", "TIMESTAMP"),
    ("events", "INTEGER"),
    ("sales_sum", "FLOAT"),
    ("sales_mean", "FLOAT"),
    ("promoted_events", "INTEGER"),
)


def parse_event(record: dict[str, Any]) -> dict[str, Any]:
    """One sales event with typed fields and its event time (seconds since the epoch)."""
    when = record.get("event_time") or record["date"]
    stamp = datetime.fromisoformat(str(when))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return {
        "store_nbr": int(record["store_nbr"]),
        "family": str(record["family"]),
        "sales": float(record["sales"]),
        "onpromotion": int(float(record.get("onpromotion") or 0)),
        "ts": stamp.timestamp(),
    }


def parse_csv_line(line: str, header: Sequence[str]) -> dict[str, Any]:
    return parse_event(dict(zip(header, next(csv.reader([line])), strict=True)))


class SeriesStats(beam.CombineFn):
    """Count, sales sum and promoted events of one series in one window."""

    def create_accumulator(self) -> tuple[int, float, int]:
        return 0, 0.0, 0

    def add_input(self, acc: tuple[int, float, int], event: dict[str, Any]) -> tuple:
        return acc[0] + 1, acc[1] + event["sales"], acc[2] + (event["onpromotion"] > 0)

    def merge_accumulators(self, accs: Iterable[tuple[int, float, int]]) -> tuple:
        n, total, promo = 0, 0.0, 0
        for a, b, c in accs:
            n, total, promo = n + a, total + b, promo + c
        return n, total, promo

    def extract_output(self, acc: tuple[int, float, int]) -> tuple[int, float, int]:
        return acc


class _WindowRow(beam.DoFn):
    def __init__(self, minutes: int) -> None:
        self.minutes = minutes

    def process(self, element: Any, window: Any = beam.DoFn.WindowParam) -> Iterator[dict]:
        (store, family), (n, total, promo) = element
        yield {
            "store_nbr": store,
            "family": family,
            "window_minutes": self.minutes,
            "window_start": window.start.to_utc_datetime().isoformat(),
            "window_end": window.end.to_utc_datetime().isoformat(),
            "events": n,
            "sales_sum": round(total, 6),
            "sales_mean": round(total / n, 6) if n else 0.0,
            "promoted_events": promo,
        }


class WindowedSalesFeatures(beam.PTransform):
    """Events (with event timestamps) -> one feature row per series and fixed window."""

    def __init__(self, minutes: int) -> None:
        super().__init__(label=f"Features{minutes}m")
        self.minutes = minutes

    def expand(self, events: Any) -> Any:
        return (
            events
            | "BySeries" >> beam.Map(lambda e: ((e["store_nbr"], e["family"]), e))
            | "Window" >> beam.WindowInto(FixedWindows(self.minutes * 60))
            | "Stats" >> beam.CombinePerKey(SeriesStats())
            | "Row" >> beam.ParDo(_WindowRow(self.minutes))
        )


def features(events: Any, windows_minutes: Sequence[int]) -> dict[int, Any]:
    """The pipeline's core, shared by both runners: feature rows per window size."""
    return {m: events | WindowedSalesFeatures(m) for m in windows_minutes}


# --- the local ends (DirectRunner) ----------------------------------------------------------


def run_local(
    csv_path: Path, out_dir: Path, windows_minutes: Sequence[int]
) -> dict[str, dict[str, Any]]:
    """Run the pipeline on the DirectRunner over a sales CSV; JSON lines per window size.

    Returns, per window size, the output file and its row count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(csv_path, encoding="utf-8") as fh:
        header = next(csv.reader([fh.readline()]))
    options = PipelineOptions(flags=[], runner="DirectRunner", direct_num_workers=1)
    prefixes = {m: out_dir / f"features_{m}m" for m in windows_minutes}
    with beam.Pipeline(options=options) as p:
        events = (
            p
            | "ReadCsv" >> beam.io.ReadFromText(str(csv_path), skip_header_lines=1)
            | "Parse" >> beam.Map(parse_csv_line, header)
            | "EventTime" >> beam.Map(lambda e: TimestampedValue(e, e["ts"]))
        )
        for minutes, rows in features(events, windows_minutes).items():
            _ = (
                rows
                | f"Json{minutes}m" >> beam.Map(json.dumps, sort_keys=True)
                | f"Write{minutes}m"
                >> beam.io.WriteToText(
                    str(prefixes[minutes]), file_name_suffix=".jsonl", shard_name_template=""
                )
            )
    result = {}
    for minutes, prefix in prefixes.items():
        path = prefix.with_name(prefix.name + ".jsonl")
        with open(path, encoding="utf-8") as fh:
            result[f"{minutes}m"] = {"file": str(path), "rows": sum(1 for _ in fh)}
    return result


# --- the Dataflow ends ------------------------------------------------------------------------


def table_schema() -> str:
    """The BigQuery table's schema, as WriteToBigQuery takes it ("name:TYPE,...")."""
    return ",".join(f"{name}:{kind}" for name, kind in TABLE_FIELDS)


def build_streaming(
    p: beam.Pipeline, *, subscription: str, table: str, windows_minutes: Sequence[int]
) -> None:
    """Pub/Sub JSON events in, the feature rows appended to a BigQuery table."""

    def decode(message: Any) -> dict[str, Any]:
        event = json.loads(message.data.decode("utf-8"))
        if "event_time" not in event and "date" not in event:
            event["event_time"] = message.publish_time.isoformat()
        return parse_event(event)

    events = (
        p
        | "ReadPubSub" >> beam.io.ReadFromPubSub(subscription=subscription, with_attributes=True)
        | "Parse" >> beam.Map(decode)
        | "EventTime" >> beam.Map(lambda e: TimestampedValue(e, e["ts"]))
    )
    rows = list(features(events, windows_minutes).values())
    _ = (
        rows
        | "AllWindows" >> beam.Flatten()
        | "WriteBigQuery"
        >> beam.io.WriteToBigQuery(
            table,
            schema=table_schema(),
            create_disposition=beam.io.BigQueryDisposition.CREATE_IF_NEEDED,
            write_disposition=beam.io.BigQueryDisposition.WRITE_APPEND,
        )
    )


def launch(
    pipeline_args: list[str], *, subscription: str, table: str, windows_minutes: Sequence[int]
) -> Any:
    """Submit the streaming pipeline with `pipeline_args` (the runner's options); returns the
    runner's result without waiting (a streaming job runs until cancelled)."""
    p = beam.Pipeline(options=PipelineOptions(pipeline_args))
    build_streaming(p, subscription=subscription, table=table, windows_minutes=windows_minutes)
    return p.run()


def main(argv: list[str] | None = None) -> None:
    """`python -m labctl.pipelines.beam_sales_features MODE ...`:

    - `local --input_csv F --output_dir D [--windows_minutes 60,1440]`: the DirectRunner;
    - `dataflow --subscription S --table T --job_id_file F [--windows_minutes ...] -- BEAM_ARGS`:
      submit the streaming job (what the gcp target's launcher job runs) and write
      `{"job_id": ...}` to F.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    local = modes.add_parser("local")
    local.add_argument("--input_csv", type=Path, required=True)
    local.add_argument("--output_dir", type=Path, required=True)
    local.add_argument("--windows_minutes", default="60,1440")
    flow = modes.add_parser("dataflow")
    flow.add_argument("--subscription", required=True)
    flow.add_argument("--table", required=True)
    flow.add_argument("--job_id_file", type=Path, required=True)
    flow.add_argument("--windows_minutes", default="60,1440")
    flow.add_argument("beam_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    windows = [int(m) for m in args.windows_minutes.split(",")]
    if args.mode == "local":
        print(json.dumps(run_local(args.input_csv, args.output_dir, windows), indent=2))
        return
    beam_args = [a for a in args.beam_args if a != "--"]
    result = launch(beam_args, subscription=args.subscription, table=args.table,
                    windows_minutes=windows)  # fmt: skip
    args.job_id_file.parent.mkdir(parents=True, exist_ok=True)
    args.job_id_file.write_text(json.dumps({"job_id": result.job_id()}))
    print(f"Dataflow job {result.job_id()} submitted")


if __name__ == "__main__":
    main()
