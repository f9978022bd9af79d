"""The local model server (a SageMaker endpoint's container contract) and batch transform.

`python -m labctl.serving --entry-point labctl.entrypoints.xgboost_tabular --model-dir DIR
--ready-file FILE` loads the model with the entry point's `model_fn`, listens on a free port,
then writes the ready file `{"pid", "port", "url"}` atomically. Routes: `GET /ping`,
`POST /invocations` (input_fn -> predict_fn -> output_fn), `GET /execution-parameters`.
Errors: 400 bad input (ValueError, a bad Content-Length, JSON nested deeper than 64), 411 no
Content-Length, 415 unsupported Content-Type, 406 unsupported Accept, 413 payload over 6 MB,
500 anything else; a framing error closes the connection. SIGTERM/SIGINT: stop, remove the
ready file, exit 0.

Load: a listen backlog of 512, one thread per connection, keep-alive connections closed after
`--idle-timeout` seconds idle, at most 1024 connections at once (more get 503).

With `--capture-dir` a sample of requests is appended, as SageMaker data capture does, to
`<dir>/YYYY/MM/DD/HH/capture.jsonl` (then `capture-1.jsonl`... past `--capture-file-mb`) by a
background thread; past `--capture-max-mb` the oldest files are deleted. `--token` is only
carried in argv so an operator can find the process by its command line.

`batch_transform()` runs the same handlers in-process over files, like SageMaker Batch Transform.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import logging
import os
import queue
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's real-time inference payload limit
MAX_JSON_DEPTH = 64  # nesting of arrays/objects in a JSON payload
LISTEN_BACKLOG = 512  # connections the kernel queues before the server accepts them
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
MAX_CONNECTIONS = 1024  # connections open at once (one thread each); more get 503
CAPTURE_FILE_BYTES = 16 * 1024 * 1024  # a capture file rotates to the next at this size
CAPTURE_TOTAL_BYTES = 256 * 1024 * 1024  # the oldest capture files are deleted beyond this
CAPTURE_QUEUE_BYTES = 64 * 1024 * 1024  # exchanges waiting for the writer; more are dropped
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
    """Appends sampled request/response pairs as SageMaker capture JSON lines, off the hot path.

    Lines go to `<root>/YYYY/MM/DD/HH/capture.jsonl`, then `capture-1.jsonl`, `capture-2.jsonl`...
    once a file reaches `max_file_bytes`. When the capture files under `root` pass
    `max_total_bytes`, the oldest are deleted. The server never waits for the disk: an exchange
    that finds `max_queue_bytes` of others waiting, or that is larger than a file, is dropped and
    counted in `dropped`.
    """

    def __init__(
        self,
        root: Path,
        percent: float,
        *,
        max_file_bytes: int = CAPTURE_FILE_BYTES,
        max_total_bytes: int = CAPTURE_TOTAL_BYTES,
        max_queue_bytes: int = CAPTURE_QUEUE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.percent = max(0.0, min(100.0, percent))
        self.max_total_bytes = max(1, max_total_bytes)
        self.max_file_bytes = max(1, min(max_file_bytes, self.max_total_bytes))
        self.dropped = 0
        self._clock = clock
        self.max_queue_bytes = max_queue_bytes
        self._queue: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._queued = 0  # bytes of the exchanges in the queue
        self._lock = threading.Lock()
        self._files: list[list[Any]] = []  # [path, size], oldest first; the last is written to
        self._total = 0
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def record(self, body: bytes, content_type: str, out: bytes, out_type: str) -> None:
        """Queue one exchange if sampled (cheap: no encoding or I/O in the caller)."""
        if self.percent >= 100.0 or random.random() * 100.0 < self.percent:
            size = len(body) + len(out)
            with self._lock:
                if self._queued + size > self.max_queue_bytes:
                    self._drop("data capture is behind the requests")
                    return
                self._queued += size
            self._queue.put((self._clock(), body, content_type, out, out_type))

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _drop(self, why: str) -> None:
        if not self.dropped:
            log.warning("%s: exchanges are dropped from data capture", why)
        self.dropped += 1

    def _run(self) -> None:
        self._files = sorted(
            ([p, p.stat().st_size] for p in self.root.rglob("capture*.jsonl")),
            key=lambda f: (str(f[0].parent), _capture_index(f[0])),
        )
        self._total = sum(size for _, size in self._files)
        handle = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            with self._lock:
                self._queued -= len(item[1]) + len(item[3])
            line = (json.dumps(_capture_record(*item)) + "\n").encode("utf-8")
            if len(line) > self.max_file_bytes:
                self._drop(f"an exchange is larger than a capture file ({self.max_file_bytes} B)")
                continue
            folder = self.root / datetime.fromtimestamp(item[0], UTC).strftime("%Y/%m/%d/%H")
            try:
                current = self._files[-1] if self._files and handle is not None else None
                if (
                    current is None
                    or current[0].parent != folder
                    or (current[1] + len(line) > self.max_file_bytes)
                ):
                    if handle is not None:
                        handle.close()
                    handle, current = self._open(folder, len(line))
                handle.write(line)
                handle.flush()
                current[1] += len(line)
                self._total += len(line)
                self._trim()
            except OSError:
                log.exception("data capture write failed")
                if handle is not None:
                    handle.close()
                handle = None
        if handle is not None:
            handle.close()

    def _open(self, folder: Path, room: int) -> tuple[Any, list[Any]]:
        """The first capture file of `folder` with `room` bytes left, opened to append."""
        folder.mkdir(parents=True, exist_ok=True)
        index = 0
        while True:
            path = folder / ("capture.jsonl" if index == 0 else f"capture-{index}.jsonl")
            size = path.stat().st_size if path.exists() else 0
            if size + room <= self.max_file_bytes:
                break
            index += 1
        entry = next((f for f in self._files if f[0] == path), None)
        if entry is None:
            entry = [path, size]
            self._files.append(entry)
        else:  # appending to a file of an earlier run: it becomes the newest
            self._files.remove(entry)
            self._files.append(entry)
        return path.open("ab"), entry

    def _trim(self) -> None:
        """Delete the oldest capture files (never the one being written) down to the cap."""
        while self._total > self.max_total_bytes and len(self._files) > 1:
            path, size = self._files.pop(0)
            path.unlink(missing_ok=True)
            self._total -= size
            with contextlib.suppress(OSError):  # remove emptied Y/M/D/H folders
                for parent in path.relative_to(self.root).parents[:-1]:
                    (self.root / parent).rmdir()


def _capture_index(path: Path) -> int:
    """0 for `capture.jsonl`, n for `capture-n.jsonl`."""
    _, _, index = path.stem.partition("-")
    return int(index) if index.isdigit() else 0


def _capture_record(
    stamp: float, body: bytes, content_type: str, out: bytes, out_type: str
) -> dict[str, Any]:
    """One SageMaker data capture record."""
    when = datetime.fromtimestamp(stamp, UTC)
    return {
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


# --------------------------------------------------------------------------- HTTP server


class ModelServer(ThreadingHTTPServer):
    """A threading HTTP server holding the entry point, its model and the capture writer.

    Design choice: one thread per connection, as http.server does, bounded twice: a connection
    idle for `idle_timeout` seconds is closed, and beyond `max_connections` open at once a new
    one gets 503 and is closed, so idle clients cannot pile up threads.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        module: ModuleType,
        model: Any,
        capture: CaptureWriter | None = None,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, _Handler)
        self.module = module
        self.model = model
        self.capture = capture
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or stalls is routine: one log line, no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.info("connection from %s ended: %s", client_address[0], exc)
        else:
            log.exception("error handling a request from %s", client_address[0])


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n"
)


class _BadRequest(Exception):
    """A request the server answers with `status` and closes the connection after."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # headers and body leave in one send (flushed after each request)
    server: ModelServer

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def handle_expect_100(self) -> bool:
        """Answer `Expect: 100-continue` now (wfile is buffered until the end of a request)."""
        go_on = super().handle_expect_100()
        self.wfile.flush()
        return go_on

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
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
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._reply(exc.status, f"{exc}\n".encode())
            return
        if self.path.split("?", 1)[0] != "/invocations":
            self._reply(404, b"not found\n")
            return
        content_type = self.headers.get("Content-Type", "")
        accept = self.headers.get("Accept", "")
        try:
            _check_json_depth(body, content_type)
            out, out_type = invoke(
                self.server.module, self.server.model, body, content_type, accept
            )
        except (ValueError, RecursionError) as exc:
            status = getattr(exc, "http_status", 400)
            message = str(exc) if isinstance(exc, ValueError) else "payload is nested too deeply"
            self._reply(status, (message or type(exc).__name__).encode() + b"\n")
            return
        except Exception as exc:
            log.exception("invocation failed")
            self._reply(500, f"internal error: {type(exc).__name__}\n".encode())
            return
        self._reply(200, out, out_type)
        if self.server.capture is not None:
            self.server.capture.record(body, content_type or "text/csv", out, out_type)

    def _read_body(self) -> bytes:
        """The request body, framed by one valid Content-Length of at most MAX_PAYLOAD bytes.

        Raises:
            _BadRequest: 400 for a malformed, negative or repeated-and-different length or a
                body cut short, 411 without a length (chunked bodies included), 413 above the cap,
                408 when the client stalls mid-body.
        """
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not lengths:
            raise _BadRequest(411, "Content-Length required")
        if len(lengths) > 1 or self.headers.get("Transfer-Encoding"):
            raise _BadRequest(400, "conflicting Content-Length / Transfer-Encoding headers")
        (value,) = lengths
        if not (value.isascii() and value.isdigit()):
            raise _BadRequest(400, f"bad Content-Length {value[:40]!r}: expected a byte count")
        if len(value) > 12 or int(value) > MAX_PAYLOAD:
            raise _BadRequest(413, f"payload larger than {MAX_PAYLOAD // (1024 * 1024)} MB")
        length = int(value)
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise _BadRequest(408, "request body not received in time") from None
        if len(body) < length:
            raise _BadRequest(400, "request body shorter than its Content-Length")
        return body


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_json_depth(body: bytes, content_type: str) -> None:
    """ValueError when a JSON body nests arrays/objects deeper than MAX_JSON_DEPTH.

    Checked before the entry point parses it, so no handler recurses into a hostile payload.
    """
    if _encoding(content_type) != "JSON" or body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    import numpy as np  # loaded already: the entry points use it

    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)  # strings hold data
    codes = np.frombuffer(brackets, np.uint8)
    depth = np.cumsum(np.where((codes == ord("[")) | (codes == ord("{")), 1, -1))
    if depth.size and depth.max() > MAX_JSON_DEPTH:
        raise ValueError(f"JSON payload nests deeper than {MAX_JSON_DEPTH} levels")


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
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    capture_total_bytes: int = CAPTURE_TOTAL_BYTES,
    capture_file_bytes: int = CAPTURE_FILE_BYTES,
) -> int:
    """Load the model, listen on a free port, write the ready file, serve until SIGTERM/SIGINT."""
    module = load_entry_point(entry_point)
    model = module.model_fn(str(model_dir))
    capture = (
        CaptureWriter(
            capture_dir,
            capture_percent,
            max_file_bytes=capture_file_bytes,
            max_total_bytes=capture_total_bytes,
        )
        if capture_dir
        else None
    )
    server = ModelServer((host, 0), module, model, capture, idle_timeout=idle_timeout)
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
    parser.add_argument(
        "--capture-max-mb",
        type=float,
        default=CAPTURE_TOTAL_BYTES / 2**20,
        help="data capture kept at most (oldest files deleted)",
    )
    parser.add_argument(
        "--capture-file-mb",
        type=float,
        default=CAPTURE_FILE_BYTES / 2**20,
        help="a capture file rotates to the next at this size",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT,
        help="seconds an idle keep-alive connection stays open",
    )
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
        idle_timeout=args.idle_timeout,
        capture_total_bytes=int(args.capture_max_mb * 2**20),
        capture_file_bytes=int(args.capture_file_mb * 2**20),
    )


if __name__ == "__main__":
    sys.exit(main())
