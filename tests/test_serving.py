"""The model server process (real HTTP, real signals), handlers and batch transform."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.entrypoints import anomaly, contract, text_classifier
from labctl.serving import batch_transform

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
