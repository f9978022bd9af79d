"""The catalog: the shipped labs, and errors that name file:line with suggestions."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl import catalog, paths
from labctl.catalog import parse_duration
from labctl.errors import CatalogError, UnknownLab

MLS = {"churn-pipeline", "fraud-detection", "document-classification"}


@pytest.fixture(scope="module")
def shipped():
    return catalog.load(paths.packaged_catalog())


def test_shipped_catalog_has_every_seed_lab(shipped):
    assert len(shipped.labs) == 14
    assert {n for n, lab in shipped.labs.items() if "aws-mls" in lab.certs} == MLS
    clouds = {lab.cloud for lab in shipped.labs.values()}
    assert clouds == {"aws", "gcp", "databricks"}
    for cert in ("aws-mls", "aws-mle", "gcp-pmle", "databricks-mlp", "aws-security"):
        assert cert in shipped.certifications
        assert any(cert in lab.certs for lab in shipped.labs.values()), cert


def test_mls_weights_are_the_public_ones(shipped):
    weights = {d.id: d.weight for d in shipped.certifications["aws-mls"].domains}
    assert sorted(weights.values()) == [20, 20, 24, 36]


def test_churn_pipeline_trains_tunes_and_deploys(shipped):
    kinds = [s.kind for s in shipped.lab("churn-pipeline").steps]
    assert {"data", "train", "tune", "deploy"} <= set(kinds)
    train = next(s for s in shipped.lab("churn-pipeline").steps if s.kind == "train")
    assert train.algorithm == "xgboost" and train.instance_type.startswith("ml.")


def test_every_milestone_fits_one_session(shipped):
    for lab in shipped.labs.values():
        assert all(3 <= m.hours <= 5 for m in lab.milestones)


GOOD = textwrap.dedent(
    """\
    certifications:
      c1:
        title: Cert
        vendor: V
        domains:
          - {id: modeling, title: Modeling, weight: 100}
    labs:
      lab-one:
        title: One
        summary: s
        cloud: aws
        certs: [c1]
        domains: {c1: [modeling]}
        services: [SageMaker]
        architecture: [a -> b]
        dataset: {name: d, offline: generated, generator: telco-churn}
        hours: 20-30
        milestones:
          - {title: m, hours: 4, steps: [data]}
        outcomes: [o]
        steps:
          - kind: data
            name: data
            generator: telco-churn
          - kind: train
            name: train
            algorithm: xgboost
            data: data
            instance_type: ml.m5.xlarge
            metric: {name: "validation:auc"}
    """
)


def broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def line(text: str, needle: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if needle in t)


def error_of(text: str) -> str:
    with pytest.raises(CatalogError) as info:
        catalog.parse(text, "labs.yaml")
    return info.value.message


def test_good_catalog_parses():
    cat = catalog.parse(GOOD, "labs.yaml")
    assert cat.lab("lab-one").hours.min == 20


def test_typo_in_a_key_names_line_and_suggests():
    text = broken("instance_type: ml.m5.xlarge", "instance_typ: ml.m5.xlarge")
    msg = error_of(text)
    assert msg.startswith(f"labs.yaml:{line(text, 'instance_typ:')}:")
    assert "missing" not in msg  # the typo is reported once
    assert "labs.lab-one.steps.1.instance_typ" in msg
    assert "did you mean 'instance_type'" in msg


def test_wrong_type_names_line_and_path():
    text = broken("hours: 4,", "hours: lots,")
    msg = error_of(text)
    assert f"labs.yaml:{line(text, 'lots')}:" in msg and "milestones.0.hours" in msg


def test_unknown_step_kind_suggests_the_closest():
    text = broken("kind: train", "kind: trian")
    msg = error_of(text)
    assert f"labs.yaml:{line(text, 'trian')}:" in msg
    assert "unknown step kind 'trian'" in msg and "did you mean 'train'" in msg


def test_missing_key_and_bad_reference():
    assert "missing required key 'metric'" in error_of(
        broken('        metric: {name: "validation:auc"}\n', "")
    )
    msg = error_of(broken("data: data", "data: dta"))
    assert "refers to 'dta'" in msg and "did you mean 'data'" in msg


def test_unknown_certification_and_domain_suggest():
    text = broken("certs: [c1]", "certs: [c1x]")
    assert error_of(text).startswith(f"labs.yaml:{line(text, 'c1x')}: labs.lab-one.certs.0:")
    assert "did you mean 'c1'" in error_of(text)
    assert "did you mean 'modeling'" in error_of(broken("{c1: [modeling]}", "{c1: [modelling]}"))


def test_not_yaml_and_not_a_mapping():
    msg = error_of("labs:\n  one: 1\n two: 2\n")
    assert msg.startswith("labs.yaml:3: not valid YAML")
    assert "labs.yaml:1:" in error_of("- just\n- a list\n")


def test_unknown_lab_suggests(shipped):
    with pytest.raises(UnknownLab) as info:
        shipped.lab("churn-pipelin")
    assert "did you mean 'churn-pipeline'" in info.value.message
    assert info.value.exit_code == 2


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(GOOD.splitlines()), st.text(min_size=1, max_size=12))
def test_any_damage_is_a_catalog_error_or_valid(line, junk):
    """Whatever a line is replaced with, loading gives a Catalog or a CatalogError with a line
    number: never another exception."""
    text = GOOD.replace(line, line.split(":")[0] + ": " + junk, 1) if ":" in line else GOOD
    try:
        catalog.parse(text, "labs.yaml")
    except CatalogError as exc:
        assert exc.message.startswith("labs.yaml:")


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["title", "kind", "name", "rows", "bogus", "generator"]),
        st.one_of(st.integers(), st.text(max_size=5), st.none()),
        max_size=4,
    )
)
def test_random_steps_never_crash(step):
    doc = yaml.safe_load(GOOD)
    doc["labs"]["lab-one"]["steps"].append(step)
    try:
        catalog.parse(yaml.safe_dump(doc), "labs.yaml")
    except CatalogError as exc:
        assert "labs.yaml:" in exc.message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("1h30m", 5400), ("45m", 2700), (90, 90), ("1d", 86400), ("10s", 10)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "h", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)
