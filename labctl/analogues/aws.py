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
- `api-gateway` / `api-gateway-lambda`: a local HTTP function (`python -m labctl.analogues.aws`)
  in front of the lab's endpoint: `POST /<stage>/predict` forwards the body to the model
  server's `/invocations`, `throttle_rps` answers 429 past that rate (a token bucket), and
  `caching` keeps answers `cache_ttl_seconds` (`X-Cache: Hit`). Its process is in the ledger
  (kind `service`, with a token) before it starts, so `labctl down` stops it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.analogues.bigquery import _data_result, _write
from labctl.backends.local.base import bucket
from labctl.catalog import DeployStep, ServiceStep
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
    if raw.is_dir():  # a folder of parts: the first table file in it
        raw = next(iter(sorted(p for p in raw.iterdir() if p.is_file())), raw)
    if not raw.is_file():
        raise BackendError(f"step '{step.name}': the data step wrote no raw table ({raw})")
    if raw.suffix == ".parquet":
        return pd.read_parquet(raw), schema
    if raw.suffix in (".jsonl", ".json"):
        return pd.read_json(raw, lines=raw.suffix == ".jsonl"), schema
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
        "dir": str(path.parent),
        "stream": str(path),
        "rows": len(frame),
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
        "dir": str(folder),
        "s3_prefix": prefix + "/",
        "source": source["stream"],
        "rows": len(lines),
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
        frame, source = _read_objects(delivered["files"]), delivered["dir"]
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
        "rows": len(table),
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
        "dir": str(path.parent),
        "database": str(path),
        "table": table,
        "partition_key": pk,
        "sort_key": sk,
        "rows": count,
        "billing_mode": step.settings.get("billing_mode", "PAY_PER_REQUEST"),
    }


def get_item(database: str | Path, table: str, pk: str, sk: str | None = None) -> dict | None:
    """The item with this key in a local DynamoDB table, or None (GetItem)."""
    where, args = ("pk = ? AND sk = ?", (pk, sk)) if sk is not None else ("pk = ?", (pk,))
    with sqlite3.connect(database) as db:
        row = db.execute(f'SELECT item FROM "{table}" WHERE {where}', args).fetchone()
    db.close()
    return json.loads(row[0]) if row else None


# --- api-gateway, api-gateway-lambda: a local HTTP function in front of the endpoint ----------

READY_TIMEOUT = 30.0


def _endpoint_url(step: ServiceStep, ctx: Context) -> str | None:
    """The URL of the last endpoint the lab deployed before `step`."""
    url = None
    for s in ctx.lab.steps:
        if s.name == step.name:
            break
        result = ctx.results.get(s.name) or {}
        if isinstance(s, DeployStep) and result.get("url"):
            url = result["url"]
    return url


def api_gateway(*, step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """Start the local API in front of the lab's endpoint; the ledger has it before it starts."""
    from labctl.backends.local.processes import tail_file, terminate

    upstream = _endpoint_url(step, ctx)
    if upstream is None:
        return {"skipped": f"no endpoint deployed before '{step.name}' to put an API in front of"}
    name = f"{step.name}-{ctx.run.id}"
    folder = ctx.workspace / "apis" / name
    folder.mkdir(parents=True, exist_ok=True)
    ready = folder / "ready.json"
    ready.unlink(missing_ok=True)
    token = f"api-{name}"
    stage = str(step.settings.get("stage", "prod"))
    res = ctx.ledger.add_resource(
        ctx.run, kind="service", name=name, attrs={"token": token, "service": step.service}
    )
    ttl = float(step.settings.get("cache_ttl_seconds", 0)) if step.settings.get("caching") else 0
    cmd = [
        sys.executable,
        "-X",
        f"labctl_token={token}",
        "-m",
        "labctl.analogues.aws",
        "--upstream",
        upstream,
        "--ready-file",
        str(ready),
        "--stage",
        stage,
        "--throttle-rps",
        str(float(step.settings.get("throttle_rps", 0))),
        "--cache-ttl",
        str(ttl),
    ]
    log_path = folder / "api.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    ctx.ledger.update_resource(res.id, provider_id=token, attrs={"pid": proc.pid})
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            terminate(proc.pid, token)
            ctx.ledger.close_resource(res.id, status="Failed")
            raise BackendError(
                f"the local API '{name}' did not start:\n{tail_file(log_path)}",
                hint=f"log: {log_path}",
            )
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    url = f"{info['url']}/{stage}/predict"
    ctx.ledger.update_resource(res.id, status="InService", attrs={"url": url})
    return {"service": step.service, "api": name, "url": url, "upstream": upstream}


class _Limiter:
    """A token bucket: `rate` requests a second, bursts up to `rate` (0: no limit)."""

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.at = rate, clock()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if self.rate <= 0:
            return True
        with self.lock:
            now = self.clock()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


def make_api(
    upstream: str, stage: str, throttle_rps: float, cache_ttl: float, clock: Any = time.monotonic
) -> ThreadingHTTPServer:
    """The local API server on a free 127.0.0.1 port (not started)."""
    limiter = _Limiter(throttle_rps, clock)
    cache: dict[tuple[str, str, bytes], tuple[float, int, bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, ctype: str, hit: str = "Miss") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Cache", hit)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            ok = self.path == "/ping"
            self._reply(200 if ok else 404, b"" if ok else b'{"message":"Not Found"}', "text/plain")

        def do_POST(self) -> None:
            if self.path.rstrip("/") != f"/{stage}/predict":
                self._reply(404, b'{"message":"Missing Authentication Token"}', "application/json")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type", "application/json")
            accept = self.headers.get("Accept", ctype)
            key = (ctype, accept, body)
            hit = cache.get(key)
            if hit and hit[0] > clock():
                self._reply(hit[1], hit[2], hit[3], "Hit")
                return
            if not limiter.allow():
                self._reply(429, b'{"message":"Too Many Requests"}', "application/json")
                return
            request = urllib.request.Request(
                f"{upstream}/invocations",
                data=body,
                method="POST",
                headers={"Content-Type": ctype, "Accept": accept},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, out = response.status, response.read()
                    out_type = response.headers.get("Content-Type", accept)
            except urllib.error.HTTPError as exc:
                status, out, out_type = exc.code, exc.read(), "text/plain"
            except urllib.error.URLError as exc:
                status, out, out_type = 502, f"endpoint: {exc.reason}".encode(), "text/plain"
            if cache_ttl > 0 and status == 200:
                cache[key] = (clock() + cache_ttl, status, out, out_type)
            self._reply(status, out, out_type)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def main(argv: list[str] | None = None) -> None:
    """Run the local API until SIGTERM/SIGINT; its ready file says where it listens."""
    parser = argparse.ArgumentParser(prog="python -m labctl.analogues.aws")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--throttle-rps", type=float, default=0.0)
    parser.add_argument("--cache-ttl", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = make_api(args.upstream, args.stage, args.throttle_rps, args.cache_ttl)
    port = server.server_address[1]

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = args.ready_file.with_suffix(".tmp")
    info = {"pid": os.getpid(), "port": port, "url": f"http://127.0.0.1:{port}"}
    tmp.write_text(json.dumps(info))
    tmp.replace(args.ready_file)
    try:
        server.serve_forever()
    finally:
        args.ready_file.unlink(missing_ok=True)


SERVICES = {
    "kinesis-data-streams": kinesis_data_streams,
    "kinesis-firehose": kinesis_firehose,
    "glue-etl": glue_etl,
    "dynamodb": dynamodb,
    "api-gateway": api_gateway,
    "api-gateway-lambda": api_gateway,
}

if __name__ == "__main__":
    main()
