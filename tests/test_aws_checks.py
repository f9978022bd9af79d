"""`check()` on the aws target refuses, before anything is created, what SageMaker would refuse
or do wrong after money was spent: objective metrics an algorithm does not emit, invalid
reverse-logarithmic ranges, images missing in the region, spot waits over SageMaker's limit,
monitoring checks labctl cannot run (no AWS calls: the backend is built on a fake session)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labctl import catalog as catalog_mod
from labctl.backends.aws import AwsBackend
from labctl.catalog import ContinuousRange, Lab, Metric

pytestmark = pytest.mark.aws
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cat():
    return catalog_mod.load(REPO / "labs.yaml")


def backend(region: str = "us-east-1") -> AwsBackend:
    return AwsBackend(session=SimpleNamespace(region_name=region))


def replace_step(lab: Lab, name: str, **update) -> Lab:
    steps = [s.model_copy(update=update) if s.name == name else s for s in lab.steps]
    return lab.model_copy(update={"steps": steps})


def fatal(findings, step=None):
    return [f.reason for f in findings if f.fatal and (step is None or f.step == step)]


def test_catalog_metrics_are_what_the_algorithms_emit(home, cat):
    for name in ("churn-pipeline", "fraud-detection", "document-classification"):
        findings = backend().check(cat.lab(name))
        assert not [r for r in fatal(findings) if "emit" in r], name


def test_metric_an_algorithm_does_not_emit_is_fatal(home, cat):
    fraud = cat.lab("fraud-detection")
    wrong = replace_step(fraud, "train-rcf", metric=Metric(name="validation:auc"))
    (reason,) = fatal(backend().check(wrong), "train-rcf")
    assert "'validation:auc' is not emitted by random-cut-forest" in reason and "test:f1" in reason
    # XGBoost emits the metrics of its eval_metric only
    wrong = replace_step(fraud, "train-xgboost", metric=Metric(name="validation:auc"))
    (reason,) = fatal(backend().check(wrong), "train-xgboost")
    assert "eval_metric 'aucpr'" in reason and "validation:aucpr" in reason
    churn = cat.lab("churn-pipeline")
    wrong = replace_step(churn, "tune-xgboost", objective=Metric(name="validation:rmse"))
    (reason,) = fatal(backend().check(wrong), "tune-xgboost")
    assert "objective 'validation:rmse'" in reason


def test_reverse_logarithmic_range_needs_max_below_one(home, cat):
    churn = cat.lab("churn-pipeline")
    tune = churn.step("tune-xgboost")
    ranges = dict(tune.ranges)
    ranges["subsample"] = ContinuousRange(
        type="continuous", min=0.5, max=1.0, scaling="reverse-logarithmic"
    )
    (reason,) = fatal(backend().check(replace_step(churn, "tune-xgboost", ranges=ranges)))
    assert "range 'subsample'" in reason and "max < 1" in reason
    ranges["subsample"] = ContinuousRange(
        type="continuous", min=0.5, max=0.99, scaling="reverse-logarithmic"
    )
    assert not fatal(backend().check(replace_step(churn, "tune-xgboost", ranges=ranges)))


def test_spot_waits_within_sagemakers_limit(home, cat):
    findings = backend().check(cat.lab("fraud-detection"))
    rcf = [f for f in findings if f.step == "train-rcf" and "spot" in f.reason]
    assert len(rcf) == 1 and not rcf[0].fatal
    assert "capped at 60 min (asked 120 min)" in rcf[0].reason
    assert not [f for f in findings if f.step == "train-xgboost" and "spot" in f.reason]
    long_rcf = replace_step(cat.lab("fraud-detection"), "train-rcf", max_runtime=7200)
    (f,) = [f for f in backend().check(long_rcf) if f.step == "train-rcf" and "spot" in f.reason]
    assert f.reason.startswith("runs on demand") and not f.fatal


def test_monitoring_findings(home, cat):
    findings = backend().check(cat.lab("fraud-detection"))
    monitor = [f for f in findings if f.step == "model-monitor"]
    assert all(not f.fatal for f in monitor)
    assert not any("closed to new AWS customers" in f.reason for f in monitor)  # none asked
    assert any(  # model quality runs as scheduled processing jobs (quality.py)
        "model-quality runs as scheduled SageMaker Processing jobs" in f.reason for f in monitor
    )
    # churn asks for data-quality: Model Monitor must be open to the account, its image exist
    churn = backend("us-east-1").check(cat.lab("churn-pipeline"))
    assert not fatal(churn, "model-monitor")
    assert any(
        "closed to new AWS customers" in f.reason and not f.fatal
        for f in churn
        if f.step == "model-monitor"
    )
    (reason,) = fatal(backend("ca-west-1").check(cat.lab("churn-pipeline")), "model-monitor")
    assert "sagemaker-model-monitor-analyzer" in reason and "ca-west-1" in reason
    # fraud asks for model-quality only: no Model Monitor image is needed, the processing one is
    assert not fatal(backend("ca-west-1").check(cat.lab("fraud-detection")), "model-monitor")
    (reason,) = fatal(backend("mars-north-1").check(cat.lab("fraud-detection")), "model-monitor")
    assert "pytorch" in reason and "mars-north-1" in reason
    # bias and explainability need Clarify: said, not fatal
    clarify = replace_step(cat.lab("fraud-detection"), "model-monitor", checks=["bias"])
    (finding,) = [f for f in backend().check(clarify) if f.step == "model-monitor"]
    assert "bias monitoring is not scheduled" in finding.reason and not finding.fatal
