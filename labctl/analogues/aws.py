"""AWS data services on this machine: Kinesis, Firehose, Glue ETL and DynamoDB, small and real.

A `service` step's `settings` are those of the cloud resource; here they shape local files:

- `kinesis-data-streams`: a stream is a JSON-lines file in the lab's workspace
  (`streams/<step>.jsonl`); the data step's raw rows are replayed into it, one record per row
  (`sequence_number`, `partition_key`, `data`), as the lab's producer would put them.
- `kinesis-firehose`: a delivery stream reads the lab's Kinesis stream (or, with none, gets the
  data step's rows put directly) and a consumer batches the records into the lab's bucket under
  `s3_prefix`: objects of at most `buffer_mb` MB of JSON lines, gzip with `compression: GZIP`,
  or one table per batch with `format: parquet` (CSV when pyarrow is not installed).
- `glue-etl`: pandas turns the raw records (Firehose's objects, else the data step's raw CSV)
  into curated `train/` and `validation/` channels under `curated/<step>/`: duplicates and rows
  without a label dropped, the label first and 0/1, numbers stored as text cast (blanks 0),
  identifiers and free text (over `max_levels`, 50, distinct values) dropped, the other
  categoricals one-hot encoded, written as `output_format` (parquet, else CSV). The lab's train
  step still reads the data step's channels, which hold the same rows in the training
  contract's format.
- `dynamodb`: a SQLite table keyed by `partition_key` (and `sort_key` if given), one item (JSON)
  per raw row, written with put-item semantics (a key written twice keeps the last item).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.analogues.bigquery import _data_result, _write
from labctl.backends.local.base import bucket
from labctl.catalog import ServiceStep
from labctl.errors import BackendError

if TYPE_CHECKING:
    import pandas as pd

    from labctl.backends.base import Context

MB = 1024 * 1024


def _raw_frame(step: ServiceStep, ctx: Context) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The data step's raw table and its schema."""
    import pandas as pd

    data = _data_result(step, ctx)
    schema = data.get("schema") or json.loads((Path(data["dir"]) / "schema.json").read_text())
    raw = Path(data["dir"]) / schema["files"]["raw"]
    if not raw.is_file():
        raise BackendError(f"step '{step.name}': the data step wrote no raw table ({raw})")
    return pd.read_csv(raw), schema


def _earlier(ctx: Context, service: str, key: str) -> dict[str, Any] | None:
    """The latest result (in run order) of a step that ran `service` and has `key`."""
    found = None
    for result in ctx.results.values():
        if isinstance(result, dict) and result.get("service") == service and key in result:
            found = result
    return found


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (numpy scalars and NaN made plain)."""
    return json.loads(frame.to_json(orient="records"))


# --- kinesis-data-streams -------------------------------------------------------------------


def _replay(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Put the data step's raw rows into the stream file of `step`; its result."""
    frame, schema = _raw_frame(step, ctx)
    key = str(step.settings.get("partition_key") or frame.columns[0])
    if key not in frame.columns:
        raise BackendError(f"step '{step.name}': partition_key '{key}' is not a raw column")
    path = ctx.workspace / "streams" / f"{step.name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for seq, row in enumerate(_records(frame)):
            record = {"sequence_number": f"{seq:020d}", "partition_key": str(row[key]), "data": row}
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
    return {
        "service": "kinesis-data-streams",
        "stream": str(path),
        "records": len(frame),
        "bytes": path.stat().st_size,
        "partition_key": key,
        "source": schema["generator"],
        "mode": step.settings.get("stream_mode", "ON_DEMAND"),
    }


def kinesis_data_streams(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """A local stream: the data step's rows replayed into a JSON-lines file."""
    return _replay(step, ctx)


# --- kinesis-firehose -----------------------------------------------------------------------


def _batches(lines: list[bytes], limit: int) -> list[list[bytes]]:
    """Consecutive batches of at most `limit` bytes (at least one line each)."""
    out: list[list[bytes]] = []
    size = limit + 1
    for line in lines:
        if size + len(line) > limit:
            out.append([])
            size = 0
        out[-1].append(line)
        size += len(line)
    return out


def kinesis_firehose(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Deliver the lab's stream (or the data step's rows, put directly) into the bucket."""
    import pandas as pd

    source = _earlier(ctx, "kinesis-data-streams", "stream") or _replay(step, ctx)
    lines = [
        json.dumps(json.loads(line)["data"], separators=(",", ":")).encode() + b"\n"
        for line in Path(source["stream"]).read_bytes().splitlines()
        if line.strip()
    ]
    prefix = str(step.settings.get("s3_prefix", f"firehose/{step.name}/")).strip("/")
    folder = bucket(ctx) / prefix
    folder.mkdir(parents=True, exist_ok=True)
    limit = max(int(float(step.settings.get("buffer_mb", 5)) * MB), 1)
    gzipped = str(step.settings.get("compression", "UNCOMPRESSED")).upper() == "GZIP"
    columnar = str(step.settings.get("format", "json")).lower() == "parquet"
    objects: list[str] = []
    for i, batch in enumerate(_batches(lines, limit)):
        name = f"{step.name}-{i:05d}"
        if columnar:
            frame = pd.DataFrame([json.loads(line) for line in batch])
            objects.append(_write(frame, folder, name))
            continue
        body = b"".join(batch)
        path = folder / (f"{name}.jsonl.gz" if gzipped else f"{name}.jsonl")
        path.write_bytes(gzip.compress(body, mtime=0) if gzipped else body)
        objects.append(str(path))
    return {
        "service": "kinesis-firehose",
        "prefix": str(folder),
        "s3_prefix": prefix + "/",
        "source": source["stream"],
        "records": len(lines),
        "objects": len(objects),
        "files": objects,
        "bytes": sum(Path(o).stat().st_size for o in objects),
        "format": Path(objects[0]).suffixes[0].lstrip(".") if objects else "jsonl",
        "compression": "GZIP" if gzipped and not columnar else "UNCOMPRESSED",
    }


# --- glue-etl -------------------------------------------------------------------------------


def _read_objects(files: list[str]) -> pd.DataFrame:
    """Firehose's objects (JSON lines, gzip or not; Parquet; CSV) as one table."""
    import pandas as pd

    frames = []
    for f in files:
        if f.endswith(".parquet"):
            frames.append(pd.read_parquet(f))
        elif f.endswith(".csv"):
            frames.append(pd.read_csv(f))
        else:
            frames.append(pd.read_json(f, lines=True, compression="infer"))
    return pd.concat(frames, ignore_index=True)


def _as_label(values: pd.Series) -> pd.Series:
    """0/1 (or class codes) from a label column: Yes/No, true/false, yes/no, numbers."""
    if values.dtype.kind in "biuf":
        return values.astype(int)
    text = values.astype(str).str.strip().str.lower()
    if set(text.unique()) <= {"yes", "no", "true", "false", "1", "0"}:
        return text.isin(("yes", "true", "1")).astype(int)
    return text.astype("category").cat.codes.astype(int)


def glue_etl(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Raw records -> curated train/validation channels, as a Glue job would with Spark."""
    import numpy as np
    import pandas as pd

    delivered = _earlier(ctx, "kinesis-firehose", "files")
    frame, schema = _raw_frame(step, ctx)
    source = "data step raw CSV"
    if delivered and delivered["files"]:
        frame, source = _read_objects(delivered["files"]), delivered["prefix"]
    label = str(step.settings.get("label", schema["label"]))
    if label not in frame.columns:
        raise BackendError(f"step '{step.name}': no label column '{label}' in the raw records")
    rows_in = len(frame)
    frame = frame.drop_duplicates().dropna(subset=[label]).reset_index(drop=True)
    y = _as_label(frame.pop(label))
    for c in frame.columns:  # numbers stored as text (e.g. blanks in TotalCharges): numbers
        if not pd.api.types.is_numeric_dtype(frame[c]):
            numbers = pd.to_numeric(frame[c].astype(str).str.strip(), errors="coerce")
            if numbers.notna().mean() >= 0.95:
                frame[c] = numbers.fillna(0)
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    levels = int(step.settings.get("max_levels", 50))
    ids = [c for c in text if frame[c].nunique() > min(levels, len(frame) - 1)]
    features = pd.get_dummies(frame.drop(columns=ids), dtype=int).fillna(0)
    table = pd.concat([y.rename(label), features], axis=1)

    fraction = float(step.settings.get("validation_fraction", 0.2))
    order = np.random.default_rng(int(step.settings.get("seed", 0))).permutation(len(table))
    cut = round(len(table) * fraction)
    out = bucket(ctx) / "curated" / step.name
    fmt = str(step.settings.get("output_format", "parquet")).lower()
    written: dict[str, str] = {}
    for channel, idx in (("validation", order[:cut]), ("train", order[cut:])):
        folder = out / channel
        folder.mkdir(parents=True, exist_ok=True)
        part = table.iloc[np.sort(idx)]
        if fmt == "csv":
            path = folder / "part-00000.csv"
            part.to_csv(path, index=False)
            written[channel] = str(path)
        else:
            written[channel] = _write(part, folder, "part-00000")
    return {
        "service": "glue-etl",
        "dir": str(out),
        "source": source,
        "rows_in": rows_in,
        "train_rows": len(order) - cut,
        "validation_rows": cut,
        "label": label,
        "dropped_columns": ids,
        "features": list(features.columns),
        "files": written,
        "format": Path(written["train"]).suffix.lstrip("."),
    }


# --- dynamodb -------------------------------------------------------------------------------


def dynamodb(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """A SQLite table keyed like the DynamoDB table, holding the data step's rows as items."""
    frame, _ = _raw_frame(step, ctx)
    pk = str(step.settings.get("partition_key", "id"))
    sk = step.settings.get("sort_key")
    table = str(step.settings.get("table_name", step.name)).replace('"', "")
    if pk not in frame.columns:  # e.g. doc_id for documents that have none: their row number
        frame.insert(0, pk, [f"{pk.removesuffix('_id')}-{i:07d}" for i in range(len(frame))])
    if sk and sk not in frame.columns:
        raise BackendError(f"step '{step.name}': sort_key '{sk}' is not a raw column")
    path = ctx.workspace / "dynamodb" / f"{step.name}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["pk", "sk"] if sk else ["pk"]
    with sqlite3.connect(path) as db:
        db.execute(f'DROP TABLE IF EXISTS "{table}"')
        db.execute(
            f'CREATE TABLE "{table}" (pk TEXT NOT NULL, {"sk TEXT NOT NULL, " if sk else ""}'
            f"item TEXT NOT NULL, PRIMARY KEY ({', '.join(keys)}))"
        )
        items = _records(frame)
        rows = [
            (str(r[pk]), *([str(r[sk])] if sk else []), json.dumps(r, separators=(",", ":")))
            for r in items
        ]
        marks = ", ".join("?" * (len(keys) + 1))
        db.executemany(f'INSERT OR REPLACE INTO "{table}" VALUES ({marks})', rows)
        count = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    db.close()
    return {
        "service": "dynamodb",
        "database": str(path),
        "table": table,
        "partition_key": pk,
        "sort_key": sk,
        "items": count,
        "billing_mode": step.settings.get("billing_mode", "PAY_PER_REQUEST"),
    }


def get_item(database: str | Path, table: str, pk: str, sk: str | None = None) -> dict | None:
    """The item with this key in a local DynamoDB table, or None (GetItem)."""
    where, args = ("pk = ? AND sk = ?", (pk, sk)) if sk is not None else ("pk = ?", (pk,))
    with sqlite3.connect(database) as db:
        row = db.execute(f'SELECT item FROM "{table}" WHERE {where}', args).fetchone()
    db.close()
    return json.loads(row[0]) if row else None


SERVICES = {
    "kinesis-data-streams": kinesis_data_streams,
    "kinesis-firehose": kinesis_firehose,
    "glue-etl": glue_etl,
    "dynamodb": dynamodb,
}
