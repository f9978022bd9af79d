"""The model server under load: latency percentiles and errors of concurrent keep-alive clients.

python bench/serve_load.py [--clients 200] [--requests 20] [--interval 1.0] [--max-seconds 90]

Trains a small churn model (2,000 rows, 20 rounds), starts `python -m labctl.serving` on
loopback as `labctl up` does, opens every client's connection at once (the listen backlog's
test), then each client sends `--requests` single-record CSV requests over its one keep-alive
connection, one every `--interval` seconds (jittered, so the clients do not march in step).
Prints p50/p99/max latency, throughput, errors by kind and the server's CPU time per request
(its capacity, whatever else loads the machine), and stops by itself after `--max-seconds`
whatever happens (unfinished requests count as errors). Exit 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _model(root: Path) -> tuple[Path, bytes]:
    """Train the churn model under the training contract; return its folder and one CSV row."""
    from labctl import datagen
    from labctl.entrypoints import contract

    datagen.generate("telco-churn", rows=2000, seed=4, out_dir=root / "data")
    env = contract.prepare_job_dir(
        root / "job",
        {c: root / "data" / c for c in ("train", "validation")},
        {"num_round": 20},
    )
    subprocess.run(
        [sys.executable, "-m", "labctl.entrypoints.xgboost_tabular"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=300,
    )
    line = (root / "data" / "validation" / "telco-churn.csv").read_text().splitlines()[0]
    return root / "job" / "model", line.split(",", 1)[1].encode()


def _start_server(model: Path, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    ready = root / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.serving", "--entry-point",
         "labctl.entrypoints.xgboost_tabular", "--model-dir", str(model), "--ready-file",
         str(ready), "--log-file", str(root / "server.log")],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"the model server did not start; log: {root / 'server.log'}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["port"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(
    port: int, row: bytes, clients: int, requests: int, interval: float, max_seconds: float
) -> tuple[list[float], list[float], collections.Counter[str], float]:
    """Run the clients; return connect and request latencies (ms), errors by kind, wall (s)."""
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        b"Accept: text/csv\r\nContent-Length: %d\r\n\r\n%s" % (len(row), row)
    )
    connects: list[float] = []
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    done = [0] * clients
    rng = random.Random(0)

    async def client(i: int) -> None:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            connects.append((time.perf_counter() - started) * 1000)
        except OSError as exc:
            errors[f"connect: {type(exc).__name__}"] += 1
            return
        try:
            await asyncio.sleep(rng.uniform(0, interval))
            for _ in range(requests):
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":", 1)[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                done[i] += 1
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    errors[f"HTTP {status}"] += 1
                await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
            errors[f"connection: {type(exc).__name__}"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    _, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    wall = time.perf_counter() - started
    unfinished = clients * requests - sum(done) - sum(errors.values())
    if pending and unfinished > 0:
        errors[f"unfinished after {max_seconds:.0f} s"] += unfinished
    return connects, latencies, errors, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between requests")
    parser.add_argument("--max-seconds", type=float, default=90.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, row = _model(root)
        proc, port = _start_server(model, root)
        try:
            cpu_before = _cpu_seconds(proc.pid)
            connects, latencies, errors, wall = asyncio.run(
                _load(port, row, args.clients, args.requests, args.interval, args.max_seconds)
            )
            cpu = _cpu_seconds(proc.pid) - cpu_before
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def pct(values: list[float], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0

    total = args.clients * args.requests
    print(
        f"{args.clients} keep-alive clients x {args.requests} requests, one every "
        f"{args.interval * 1000:.0f} ms each (offered ~{args.clients / args.interval:.0f} req/s), "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"answered {len(latencies)}/{total} in {wall:.1f} s ({len(latencies) / wall:.0f} req/s): "
        f"p50 {pct(latencies, 0.5):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
        f"max {pct(latencies, 1.0):.1f} ms"
    )
    print(
        f"{len(connects)} connections opened at once: p50 {pct(connects, 0.5):.1f} ms, "
        f"p99 {pct(connects, 0.99):.1f} ms, max {pct(connects, 1.0):.1f} ms"
    )
    per_request = cpu * 1000 / max(1, len(latencies))
    print(
        f"server CPU {per_request:.2f} ms per request (~{1000 / per_request:.0f} req/s per "
        f"core); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"errors: {sum(errors.values())}" + "".join(f"; {k}: {n}" for k, n in errors.items()))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
