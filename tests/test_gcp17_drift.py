"""labctl.drift: per-feature distances as Vertex AI Model Monitoring v2 computes them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from labctl.drift import DEFAULT_THRESHOLD, drift_report, jensen_shannon, l_infinity


def test_distances_by_hand() -> None:
    assert l_infinity({"a": 0.5, "b": 0.5}, {"a": 0.9, "c": 0.1}) == pytest.approx(0.5)
    assert jensen_shannon([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert jensen_shannon([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    # JS of (1, 0) vs (0.5, 0.5): 0.5 * KL(p||m) + 0.5 * KL(q||m), m = (0.75, 0.25)
    expected = 0.5 * math.log2(1 / 0.75) + 0.5 * (
        0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    )
    assert jensen_shannon([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected)


def test_same_distribution_does_not_drift_and_shifted_does() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame(
        {"price": rng.normal(10, 2, 5000), "store": rng.choice(["a", "b", "c"], 5000)}
    )
    same = pd.DataFrame(
        {"price": rng.normal(10, 2, 2000), "store": rng.choice(["a", "b", "c"], 2000)}
    )
    report = drift_report(base, same, thresholds=None)
    assert report["drifted"] == [] and not report["alert"]
    assert report["features"]["price"]["metric"] == "jensen_shannon_divergence"
    assert report["features"]["store"]["metric"] == "l_infinity"
    assert report["features"]["price"]["threshold"] == DEFAULT_THRESHOLD

    shifted = pd.DataFrame({"price": rng.normal(20, 2, 2000), "store": ["a"] * 2000})
    report = drift_report(base, shifted, thresholds={"store": 0.9})
    assert report["features"]["price"]["drifted"]
    # all current mass in the top decile bin: p = 0.1 per bin, q = (0, ..., 0, 1)
    top = 0.5 * (0.9 + 0.1 * math.log2(0.1 / 0.55)) + 0.5 * math.log2(1 / 0.55)
    assert report["features"]["price"]["distance"] == pytest.approx(top, abs=1e-3)
    store = report["features"]["store"]
    assert store["distance"] == pytest.approx(1 - (base["store"] == "a").mean(), abs=1e-6)
    assert store["threshold"] == 0.9 and not store["drifted"]
    assert report["drifted"] == ["price"] and report["alert"]


def test_missing_feature_and_text_numbers() -> None:
    base = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1, 1, 2, 2]})
    current = pd.DataFrame({"x": ["1", "2", "3", "4"]})  # JSON requests may carry strings
    report = drift_report(base, current, thresholds={})
    assert report["missing"] == ["y"] and report["alert"]
    assert report["features"]["x"]["distance"] == pytest.approx(0.0)
    assert report["baseline_rows"] == 4 and report["current_rows"] == 4
