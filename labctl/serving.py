"""The local model server (a SageMaker endpoint's container contract) and batch transform.

`python -m labctl.serving --entry-point labctl.entrypoints.xgboost_tabular --model-dir DIR
--ready-file FILE` loads the model with the entry point's `model_fn`, listens on a free port,
then writes the ready file `{"pid", "port", "url"}` atomically. Routes: `GET /ping`,
`POST /invocations` (input_fn -> predict_fn -> output_fn), `GET /execution-parameters`.
Errors: 400 bad input (ValueError), 415 unsupported Content-Type, 406 unsupported Accept,
413 payload over 6 MB, 500 anything else. SIGTERM/SIGINT: stop, remove the ready file, exit 0.

With `--capture-dir` a sample of requests is appended, as SageMaker data capture does, to
`<dir>/YYYY/MM/DD/HH/capture.jsonl` by a background thread. `--token` is only carried in argv
so an operator can find the process by its command line.

`batch_transform()` runs the same handlers in-process over files, like SageMaker Batch Transform.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import logging
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_PAYLOAD = 6 * 1024 * 1024
log = logging.getLogger("labctl.serving")


def load_entry_point(name: str) -> ModuleType:
    """Import an entry-point module and check it has the four inference handlers."""
    module = importlib.import_module(name)
    missing = [
        f for f in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, f)
    ]
    if missing:
        raise AttributeError(f"entry point {name} lacks {', '.join(missing)}")
    return module


def invoke(
    module: ModuleType, model: Any, body: bytes, content_type: str, accept: str
) -> tuple[bytes, str]:
    """input_fn -> predict_fn -> output_fn; returns (body, content type)."""
    data = module.input_fn(body, content_type)
    prediction = module.predict_fn(data, model)
    return module.output_fn(prediction, accept)


# --------------------------------------------------------------------------- data capture


def _encoding(content_type: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        return "CSV"
    if kind in ("application/json", "application/jsonlines"):
        return "JSON"
    return "BASE64"


def _captured(body: bytes, content_type: str, mode: str) -> dict[str, str]:
    encoding = _encoding(content_type)
    if encoding != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


class CaptureWriter:
    """Appends sampled request/response pairs as SageMaker capture JSON lines, off the hot path."""

    def __init__(self, root: Path, percent: float) -> None:
        self.root = Path(root)
        self.percent = max(0.0, min(100.0, percent))
        self._queue: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def record(self, body: bytes, content_type: str, out: bytes, out_type: str) -> None:
        """Queue one exchange if sampled (cheap: no encoding or I/O in the caller)."""
        if self.percent >= 100.0 or random.random() * 100.0 < self.percent:
            self._queue.put((time.time(), body, content_type, out, out_type))

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        current: Path | None = None
        handle = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            stamp, body, content_type, out, out_type = item
            when = datetime.fromtimestamp(stamp, UTC)
            path = self.root / when.strftime("%Y/%m/%d/%H") / "capture.jsonl"
            record = {
                "captureData": {
                    "endpointInput": _captured(body, content_type, "INPUT"),
                    "endpointOutput": _captured(out, out_type, "OUTPUT"),
                },
                "eventMetadata": {
                    "eventId": str(uuid.uuid4()),
                    "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when:%f}"[:3] + "Z",
                },
                "eventVersion": "0",
            }
            try:
                if path != current:
                    if handle is not None:
                        handle.close()
                    path.parent.mkdir(parents=True, exist_ok=True)
                    handle = path.open("a", encoding="utf-8")
                    current = path
                assert handle is not None
                handle.write(json.dumps(record) + "\n")
                handle.flush()
            except OSError:
                log.exception("data capture write failed")
        if handle is not None:
            handle.close()


# --------------------------------------------------------------------------- HTTP server


class ModelServer(ThreadingHTTPServer):
    """A threading HTTP server holding the entry point, its model and the capture writer."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        module: ModuleType,
        model: Any,
        capture: CaptureWriter | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.module = module
        self.model = model
        self.capture = capture


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ModelServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            self._reply(200)
        elif path == "/execution-parameters":
            params = {
                "MaxConcurrentTransforms": 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": MAX_PAYLOAD // (1024 * 1024),
            }
            self._reply(200, json.dumps(params).encode(), "application/json")
        else:
            self._reply(404, b"not found\n")

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            self._reply(411, b"Content-Length required\n")
            return
        length = int(length_header)
        if length > MAX_PAYLOAD:
            self.close_connection = True
            self._reply(413, b"payload larger than 6 MB\n")
            return
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] != "/invocations":
            self._reply(404, b"not found\n")
            return
        content_type = self.headers.get("Content-Type", "")
        accept = self.headers.get("Accept", "")
        try:
            out, out_type = invoke(
                self.server.module, self.server.model, body, content_type, accept
            )
        except ValueError as exc:
            status = getattr(exc, "http_status", 400)
            self._reply(status, (str(exc) or type(exc).__name__).encode() + b"\n")
            return
        except Exception as exc:
            log.exception("invocation failed")
            self._reply(500, f"internal error: {type(exc).__name__}\n".encode())
            return
        self._reply(200, out, out_type)
        if self.server.capture is not None:
            self.server.capture.record(body, content_type or "text/csv", out, out_type)


def _write_ready(path: Path, info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp, path)


def serve(
    entry_point: str,
    model_dir: Path,
    ready_file: Path,
    host: str = "127.0.0.1",
    capture_dir: Path | None = None,
    capture_percent: float = 100.0,
) -> int:
    """Load the model, listen on a free port, write the ready file, serve until SIGTERM/SIGINT."""
    module = load_entry_point(entry_point)
    model = module.model_fn(str(model_dir))
    capture = CaptureWriter(capture_dir, capture_percent) if capture_dir else None
    server = ModelServer((host, 0), module, model, capture)
    port = server.server_address[1]

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    ready = {
        "pid": os.getpid(),
        "port": port,
        "url": f"http://{url_host}:{port}",
        "entry_point": entry_point,
        "model_dir": str(model_dir),
    }
    _write_ready(ready_file, ready)
    log.info("serving %s from %s on port %d", entry_point, model_dir, port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if capture is not None:
            capture.close()
        Path(ready_file).unlink(missing_ok=True)
    return 0


# --------------------------------------------------------------------------- batch transform


def batch_transform(
    entry_point: str,
    model_dir: Path,
    input_dir: Path,
    output_dir: Path,
    *,
    content_type: str,
    accept: str,
    split_type: str = "Line",
    batch_size: int = 1000,
) -> dict[str, int]:
    """Write `<output_dir>/<relative input path>.out` for every file under `input_dir`.

    split_type "Line": records are lines, sent `batch_size` at a time, outputs joined by lines
    (SageMaker's AssembleWith=Line); "None": each file is one request. Returns {"files",
    "records"}. A ValueError from the handlers names the file and the first line of the batch.
    """
    if split_type not in ("Line", "None"):
        raise ValueError(f"split_type must be 'Line' or 'None', got {split_type!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    module = load_entry_point(entry_point)
    model = module.model_fn(str(model_dir))
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = (
        [input_dir]
        if input_dir.is_file()
        else sorted(p for p in input_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    base = input_dir.parent if input_dir.is_file() else input_dir
    counts = {"files": 0, "records": 0}
    for path in files:
        target = output_dir / f"{path.relative_to(base)}.out"
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        if split_type == "None":
            batches = [(1, data)] if data.strip() else []
            records = len(batches)
        else:
            lines = [line for line in data.splitlines() if line.strip()]
            records = len(lines)
            batches = [
                (i + 1, b"\n".join(lines[i : i + batch_size]) + b"\n")
                for i in range(0, len(lines), batch_size)
            ]
        with target.open("wb") as out:
            for first, body in batches:
                try:
                    result, _ = invoke(module, model, body, content_type, accept)
                except ValueError as exc:
                    raise ValueError(f"{path.name} (from record {first}): {exc}") from exc
                out.write(result if result.endswith(b"\n") else result + b"\n")
        counts["files"] += 1
        counts["records"] += records
    return counts


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """`python -m labctl.serving ...`: run the model server until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m labctl.serving", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--entry-point", required=True, help="module with model_fn/input_fn/...")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--capture-dir", type=Path)
    parser.add_argument("--capture-percent", type=float, default=100.0)
    parser.add_argument("--token", help="carried in argv only, to find this process")
    parser.add_argument("--log-file", type=Path, help="log here (default: warnings to stderr)")
    args = parser.parse_args(argv)
    if args.log_file:
        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(
            filename=args.log_file,
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(message)s",
        )
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return serve(
        args.entry_point,
        args.model_dir,
        args.ready_file,
        args.host,
        args.capture_dir,
        args.capture_percent,
    )


if __name__ == "__main__":
    sys.exit(main())
