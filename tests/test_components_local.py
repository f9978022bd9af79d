"""streaming-edge-ml on the local target: the edge (iot-greengrass) and the streaming services
with no local analogue (msk, managed-flink, elasticache) are skipped with a warning, never a
refusal, and the lab's ML path comes up and goes down."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {"LABCTL_CATALOG": str(REPO / "labs.yaml")}


@pytest.mark.local
def test_streaming_edge_ml_comes_up_locally_without_its_edge_device(cli) -> None:
    pytest.importorskip("torch", reason="the lab's sensor_anomaly script trains with PyTorch")
    plan = cli("plan", "streaming-edge-ml", "--target", "local", "--json", env=ENV).json()
    edge = next(f for f in plan["findings"] if f["step"] == "edge-deployment")
    assert edge["fatal"] is False and "'iot-greengrass' is skipped locally" in edge["reason"]
    up = cli("up", "streaming-edge-ml", "--target", "local", "--rows", "5000", "--json", env=ENV)
    try:
        assert up.code == 0, up.stderr[-3000:]
        steps = up.json()["steps"]
        assert steps["edge-deployment"]["skipped"].startswith("'iot-greengrass' is skipped locally")
        for name in ("kafka-events", "stream-features", "online-features"):
            assert "skipped" in steps[name]
        assert steps["train-anomaly"]["metrics"]
        assert steps["endpoint"] and steps["api"]
        warnings = up.json()["warnings"]
        assert any("'iot-greengrass' is skipped locally" in w for w in warnings)
    finally:
        assert cli("down", "streaming-edge-ml", "--yes", env=ENV).code == 0
