"""The model server process (real HTTP, real signals), handlers and batch transform."""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.entrypoints import anomaly, contract, text_classifier
from labctl.serving import CaptureWriter, ModelServer, batch_transform

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def train(ep: str, data: Path, job: Path, hps: dict) -> Path:
    env = contract.prepare_job_dir(
        job, {"train": data / "train", "validation": data / "validation"}, hps
    )
    proc = subprocess.run(
        [sys.executable, "-m", f"labctl.entrypoints.{ep}"],
        env={**ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return job / "model"


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("churn")
    datagen.generate("telco-churn", rows=2000, seed=4, out_dir=root / "data")
    model = train("xgboost_tabular", root / "data", root / "job", {"num_round": 20})
    return root / "data", model


def _features(data: Path, n: int) -> list[str]:
    lines = (data / "validation" / "telco-churn.csv").read_text().splitlines()[:n]
    return [line.split(",", 1)[1] for line in lines]


def _post(conn: http.client.HTTPConnection, body: bytes, ctype: str, accept: str) -> tuple:
    conn.request("POST", "/invocations", body, {"Content-Type": ctype, "Accept": accept})
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("Content-Type")


def test_server_end_to_end(tmp_path: Path, churn: tuple[Path, Path]) -> None:
    data, model = churn
    ready = tmp_path / "run" / "ready.json"
    capture = tmp_path / "capture"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.serving", "--entry-point",
         "labctl.entrypoints.xgboost_tabular", "--model-dir", str(model), "--ready-file",
         str(ready), "--capture-dir", str(capture), "--capture-percent", "100",
         "--token", "tok-123"],
        env=ENV,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid and info["url"] == f"http://127.0.0.1:{info['port']}"
        assert b"tok-123" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()

        conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b""

        rows = _features(data, 5)
        status, body, ctype = _post(conn, rows[0].encode(), "text/csv", "text/csv")
        assert status == 200 and ctype == "text/csv"
        assert 0.0 <= float(body) <= 1.0

        status, body, _ = _post(conn, "\n".join(rows).encode(), "text/csv", "application/json")
        preds = json.loads(body)["predictions"]
        assert status == 200 and len(preds) == 5 and all(0 <= p <= 1 for p in preds)

        instances = [[float(v) for v in r.split(",")] for r in rows[:3]]
        payload = json.dumps({"instances": instances}).encode()
        status, body, _ = _post(conn, payload, "application/json", "application/json")
        assert status == 200
        assert json.loads(body)["predictions"] == pytest.approx(preds[:3], rel=1e-6)

        status, body, _ = _post(conn, b"1,2,three", "text/csv", "text/csv")
        assert status == 400 and b"non-numeric" in body
        status, body, _ = _post(conn, ("0," + rows[0]).encode(), "text/csv", "text/csv")
        assert status == 400 and b"no label column" in body
        status, _, _ = _post(conn, b"<xml/>", "application/xml", "text/csv")
        assert status == 415
        # the connection survived the errors (keep-alive)
        status, _, _ = _post(conn, rows[1].encode(), "text/csv", "text/csv")
        assert status == 200
        conn.close()
        negative = b"POST /invocations HTTP/1.1\r\nContent-Length: -1\r\n\r\n"
        answer, closed = _raw(info["port"], negative)  # logged without a traceback
        assert _status(answer) == 400 and closed

        deadline = time.monotonic() + 10
        files: list[Path] = []
        while time.monotonic() < deadline:
            files = list(capture.rglob("capture.jsonl"))
            if files and len(files[0].read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        assert len(files) == 1 and len(files[0].relative_to(capture).parts) == 5  # Y/M/D/H/file
        first = json.loads(files[0].read_text().splitlines()[0])
        inp = first["captureData"]["endpointInput"]
        assert inp == {"observedContentType": "text/csv", "mode": "INPUT",
                       "data": rows[0], "encoding": "CSV"}  # fmt: skip
        assert first["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
        assert first["eventMetadata"]["inferenceTime"].endswith("Z")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0
    assert not ready.exists()
    assert b"Traceback" not in (proc.stderr.read() if proc.stderr else b"")


def test_batch_transform_one_prediction_per_line(tmp_path: Path, churn: tuple[Path, Path]) -> None:
    data, model = churn
    inp = tmp_path / "in"
    (inp / "part").mkdir(parents=True)
    (inp / "a.csv").write_text("\n".join(_features(data, 25)) + "\n")
    (inp / "part" / "b.csv").write_text("\n".join(_features(data, 7)))
    counts = batch_transform(
        "labctl.entrypoints.xgboost_tabular", model, inp, tmp_path / "out",
        content_type="text/csv", accept="text/csv", batch_size=10,
    )  # fmt: skip
    assert counts == {"files": 2, "records": 32}
    a = (tmp_path / "out" / "a.csv.out").read_text().splitlines()
    b = (tmp_path / "out" / "part" / "b.csv.out").read_text().splitlines()
    assert len(a) == 25 and len(b) == 7
    assert all(0.0 <= float(v) <= 1.0 for v in a + b)
    assert a[:7] == b


def test_anomaly_and_text_handlers(tmp_path: Path) -> None:
    datagen.generate("credit-card-fraud", rows=3000, seed=2, out_dir=tmp_path / "fraud")
    model_dir = train("anomaly", tmp_path / "fraud", tmp_path / "ajob", {"num_trees": 50})
    model = anomaly.model_fn(str(model_dir))
    val = np.loadtxt(tmp_path / "fraud" / "validation" / "creditcard.csv", delimiter=",")
    x = val[:, 1:].astype(np.float32)
    fast = anomaly.predict_fn(x, model)
    assert np.allclose(fast, -model["forest"].score_samples(x))
    body = "\n".join(",".join(repr(v) for v in row) for row in x[:3].tolist()).encode()
    out, ctype = anomaly.output_fn(anomaly.predict_fn(anomaly.input_fn(body, "text/csv"), model),
                                   "application/json")  # fmt: skip
    scores = json.loads(out)["scores"]
    assert ctype == "application/json" and len(scores) == 3 and 0 < scores[0]["score"] <= 1
    with pytest.raises(ValueError, match="expected 30 features"):
        anomaly.predict_fn(anomaly.input_fn(b"1,2,3", "text/csv"), model)

    datagen.generate("newsgroups-text", rows=1500, seed=2, out_dir=tmp_path / "text")
    model_dir = train("text_classifier", tmp_path / "text", tmp_path / "tjob", {"epochs": 3})
    tmodel = text_classifier.model_fn(str(model_dir))
    req = {"instances": ["nasa shuttle orbit launch moon", "hockey puck nhl playoff goal"]}
    data = text_classifier.input_fn(json.dumps(req).encode(), "application/json")
    out, _ = text_classifier.output_fn(text_classifier.predict_fn(data, tmodel), "application/json")
    result = json.loads(out)
    assert [r["label"] for r in result] == [["__label__sci.space"], ["__label__rec.sport.hockey"]]
    assert 0 < result[0]["prob"][0] <= 1
    lines, _ = text_classifier.output_fn(
        text_classifier.predict_fn(text_classifier.input_fn(b"a b\nc d\n", "text/plain"), tmodel),
        "text/plain",
    )
    assert len(lines.decode().splitlines()) == 2
    with pytest.raises(ValueError):
        text_classifier.input_fn(b'{"instances": [1, 2]}', "application/json")


# --------------------------------------------------------------------------- under load and abuse


class _Servers:
    """In-process ModelServers on loopback, serving the churn model, shut down after the test."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.serving: list[ModelServer] = []
        self.all: list[ModelServer] = []

    def __call__(self, serve: bool = True, **options: object) -> tuple[ModelServer, int]:
        from labctl.entrypoints import xgboost_tabular

        srv = ModelServer(("127.0.0.1", 0), xgboost_tabular, self.model, **options)
        self.all.append(srv)
        if serve:
            self.serve(srv)
        return srv, srv.server_address[1]

    def serve(self, srv: ModelServer) -> None:
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        self.serving.append(srv)

    def close(self) -> None:
        for srv in self.serving:
            srv.shutdown()
        for srv in self.all:
            srv.server_close()


@pytest.fixture
def server(churn: tuple[Path, Path]):
    """`server(**options)` -> (an in-process ModelServer, its port); `server.serve(srv)` later."""
    from labctl.entrypoints import xgboost_tabular

    servers = _Servers(xgboost_tabular.model_fn(str(churn[1])))
    yield servers
    servers.close()


def _raw(port: int, request: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes; return (everything answered, whether the server closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return answer, False
            if not chunk:
                return answer, True
            answer += chunk


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _no_traceback(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_backlog_holds_200_simultaneous_connects(server, churn) -> None:
    srv, port = server(serve=False)  # listening, not yet accepting: the kernel queues them
    socks = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(200)]
    assert srv.request_queue_size >= 128
    server.serve(srv)
    row = _features(churn[0], 1)[0].encode()
    try:
        for sock in socks:
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(row), row)
            )
        for sock in socks:
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in socks:
            sock.close()


def test_idle_keepalive_connection_is_closed(server, churn) -> None:
    _, port = server(idle_timeout=0.3)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    status, _, _ = _post(conn, _features(churn[0], 1)[0].encode(), "text/csv", "text/csv")
    assert status == 200
    conn.sock.settimeout(5)
    started = time.monotonic()
    assert conn.sock.recv(1) == b""  # closed by the server, not by our 5 s timeout
    assert time.monotonic() - started < 3
    conn.close()
    answer, closed = _raw(port, b"")  # a connection that never sends a request
    assert answer == b"" and closed


@pytest.mark.parametrize("length", ["abc", "-1", "1_0", "+5", " 0x10", "1e3", "١٢", "5, 6"])
def test_bad_content_length_is_400_and_closes(server, capfd, caplog, length: str) -> None:
    _, port = server()
    request = f"POST /invocations HTTP/1.1\r\nContent-Length: {length}\r\n\r\n1,2,3"
    answer, closed = _raw(port, request.encode())
    assert _status(answer) == 400 and closed, answer
    _no_traceback(capfd, caplog)


def test_conflicting_lengths_cap_and_stalled_body(server, capfd, caplog) -> None:
    _, port = server(idle_timeout=0.5)
    two = b"POST /invocations HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12"
    assert _status(_raw(port, two)[0]) == 400
    chunked = (
        b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    )
    assert _status(_raw(port, chunked)[0]) == 400
    none = b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\n\r\n"
    assert _status(_raw(port, none)[0]) == 411
    big = b"POST /invocations HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (6 * 1024 * 1024 + 1)
    answer, closed = _raw(port, big)
    assert _status(answer) == 413 and closed
    huge = b"POST /invocations HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    assert _status(_raw(port, huge)[0]) == 413
    short = b"POST /invocations HTTP/1.1\r\nContent-Length: 10\r\n\r\n1,2"
    answer, closed = _raw(port, short)  # the client stalls mid-body: the handler does not hang
    assert _status(answer) == 408 and closed
    _no_traceback(capfd, caplog)


def test_expect_continue_and_garbage_request_line(server, churn) -> None:
    _, port = server()
    row = _features(churn[0], 1)[0].encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(row)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")  # not after a client timeout
        sock.sendall(row)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    answer, closed = _raw(port, b"GET / x HTTP/1.1\r\n\r\n")  # one word too many
    assert _status(answer) == 400 and closed


def test_malformed_and_deep_json_are_400(server, churn, capfd, caplog) -> None:
    _, port = server()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    row = [float(v) for v in _features(churn[0], 1)[0].split(",")]
    ok = json.dumps({"instances": [row]}).encode()
    assert _post(conn, ok, "application/json", "application/json")[0] == 200
    for body in (
        b'{"instances": [[1, 2',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"instances": [' + b"[" * 70 + b"0" + b"]" * 70 + b"]}",  # 72 levels
    ):
        status, answer, _ = _post(conn, body, "application/json", "application/json")
        assert status == 400, (body[:40], answer)
    # brackets inside strings are data, not nesting
    text = json.dumps({"instances": [row], "note": "[" * 500}).encode()
    assert _post(conn, text, "application/json", "application/json")[0] == 200
    conn.close()
    _no_traceback(capfd, caplog)


def test_connections_beyond_the_cap_get_503(server, churn) -> None:
    _, port = server(max_connections=2)
    row = _features(churn[0], 1)[0].encode()
    held = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(2)]
    for conn in held:
        assert _post(conn, row, "text/csv", "text/csv")[0] == 200
    answer, closed = _raw(port, b"GET /ping HTTP/1.1\r\n\r\n")
    assert _status(answer) == 503 and closed
    held[0].close()
    deadline = time.monotonic() + 5
    while _status(_raw(port, b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n")[0]) != 200:
        assert time.monotonic() < deadline, "a freed slot was never reused"
        time.sleep(0.05)
    held[1].close()


def _hour(h: int) -> float:
    return datetime(2026, 11, 30, h, 15, tzinfo=UTC).timestamp()


def test_capture_rotates_and_keeps_under_its_cap(tmp_path: Path) -> None:
    now = [_hour(10)]
    writer = CaptureWriter(
        tmp_path, 100, max_file_bytes=4000, max_total_bytes=20_000, clock=lambda: now[0]
    )
    for i in range(120):
        now[0] = _hour(10 + i // 60)  # 60 exchanges at 10:15, then 60 at 11:15
        writer.record(b"1,2,3,%d" % i, "text/csv", b"0.5", "text/csv")
    writer.close()
    files = sorted(tmp_path.rglob("*.jsonl"))
    sizes = [f.stat().st_size for f in files]
    assert all(s <= 4000 for s in sizes) and sum(sizes) <= 20_000
    assert not (tmp_path / "2026/11/30/10").exists()  # the oldest hour went first, folder and all
    newest = sorted(
        (tmp_path / "2026/11/30/11").iterdir(), key=lambda f: int(f.stem.partition("-")[2] or 0)
    )
    assert len(newest) >= 2 and len(files) == len(newest)  # rotated within the hour
    last = json.loads(newest[-1].read_text().splitlines()[-1])
    assert last["captureData"]["endpointInput"]["data"] == "1,2,3,119"
    assert last["eventMetadata"]["inferenceTime"] == "2026-11-30T11:15:00.000Z"
    assert writer.dropped == 0

    # a restart appends to the hour's last file with room and still honours the cap
    again = CaptureWriter(
        tmp_path, 100, max_file_bytes=4000, max_total_bytes=20_000, clock=lambda: now[0]
    )
    for i in range(40):
        again.record(b"4,5,6,%d" % i, "text/csv", b"0.5", "text/csv")
    again.close()
    assert sum(f.stat().st_size for f in tmp_path.rglob("*.jsonl")) <= 20_000


def test_capture_drops_what_it_cannot_hold(tmp_path: Path) -> None:
    writer = CaptureWriter(
        tmp_path, 100, max_file_bytes=1000, max_queue_bytes=10_000, clock=lambda: _hour(3)
    )
    writer.record(b"x" * 20_000, "text/csv", b"0.5", "text/csv")  # over the queue's bytes
    writer.record(b"x" * 2_000, "text/csv", b"0.5", "text/csv")  # over a file
    writer.record(b"1,2", "text/csv", b"0.5", "text/csv")
    writer.close()
    assert writer.dropped == 2
    (only,) = tmp_path.rglob("*.jsonl")
    assert len(only.read_text().splitlines()) == 1
