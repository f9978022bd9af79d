"""The SageMaker image table: generated from the SageMaker Python SDK's image_uri_config files,
with its source and date, and complete for the regions labctl runs in (no AWS, no boto3)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labctl import paths
from labctl.backends.aws import images
from labctl.backends.aws.algorithms import ALGORITHMS

REPO = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_sagemaker_images", REPO / "scripts" / "gen_sagemaker_images.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_names_its_source_and_date():
    data = json.loads(paths.data_file("sagemaker_images.json").read_text())
    assert data["source"]["package"] == "sagemaker"
    assert data["source"]["version"].startswith("2.")
    assert data["source"]["generated"] == images.SOURCE["generated"]
    for name in (*ALGORITHMS, "model-monitor", "linear-learner", "kmeans"):
        assert name in images.IMAGES, name
    for name in ("pytorch-training", "pytorch-inference", "huggingface-training"):
        assert images.FRAMEWORKS[name]["registries"]["us-east-1"], name


def test_registries_match_the_sdk():
    # hand-copied tables had BlazingText in ap-northeast-3 in another account, and no
    # BlazingText, RCF or Model Monitor image in af-south-1/ap-south-2/... regions
    assert images.image_uri("blazingtext", "ap-northeast-3").startswith("867004704886.")
    assert images.image_uri("model-monitor", "af-south-1") == (
        "875698925577.dkr.ecr.af-south-1.amazonaws.com/sagemaker-model-monitor-analyzer:latest"
    )
    for name in ALGORITHMS:
        for region in ("ap-south-2", "ap-southeast-4", "ca-west-1", "eu-central-2"):
            assert images.image_uri(name, region), (name, region)
    assert images.image_uri("xgboost", "cn-north-1").endswith(
        ".amazonaws.com.cn/sagemaker-xgboost:1.7-1"
    )
    assert not [r for i in images.IMAGES.values() for r in i.registries if "iso" in r]
    assert images.repositories() == [
        "blazingtext",
        "huggingface-pytorch-inference",
        "huggingface-pytorch-training",
        "pytorch-inference",
        "pytorch-training",
        "randomcutforest",
        "sagemaker-model-monitor-analyzer",
        "sagemaker-xgboost",
    ]


def test_generator_reads_the_sdk_wheel(tmp_path):
    gen = _generator()
    regs = {"us-east-1": "111111111111", "us-iso-east-1": "222222222222"}
    built_in = {"scope": ["training"], "versions": {"1": {"registries": regs, "repository": "r"}}}
    files = {name: built_in for name in ("blazingtext", "randomcutforest", "linear-learner")}
    files["kmeans"] = built_in
    files["xgboost"] = {
        "training": {"versions": {"1.7-1": {"registries": regs, "repository": "sagemaker-xgboost"}}}
    }
    files["model-monitor"] = {"versions": {"": {"registries": regs, "repository": "mm"}}}
    dlc = {"py_versions": ["py312"], "registries": regs, "repository": "pytorch-training"}
    files["pytorch"] = {
        scope: {"processors": ["cpu", "gpu"], "versions": {"2.10.0": dlc, "2.9.1": dlc}}
        for scope in ("training", "inference")
    }
    hf = {"pytorch2.8.0": dlc, "pytorch2.10.0": dlc, "version_aliases": {}}
    files["huggingface"] = {
        scope: {"processors": ["gpu"], "versions": {"4.56.2": hf}}
        for scope in ("training", "inference")
    }
    wheel = tmp_path / "sagemaker-2.999.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, body in files.items():
            zf.writestr(f"sagemaker/image_uri_config/{name}.json", json.dumps(body))
    table = gen.generate(wheel, "2026-12-01")
    assert table["source"]["version"] == "2.999.0" and table["source"]["generated"] == "2026-12-01"
    assert table["images"]["xgboost"] == {
        "repository": "sagemaker-xgboost",
        "tag": "1.7-1",
        "registries": {"us-east-1": "111111111111"},  # ISO partitions left out
    }
    assert table["images"]["model-monitor"]["tag"] == "latest"
    assert table["images"]["pytorch-training"]["version"] == "2.10.0"  # numeric, not text order
    assert table["images"]["huggingface-training"]["base_framework"] == "pytorch2.10.0"
    with pytest.raises(SystemExit):
        gen.generate(tmp_path / "other.whl", "2026-12-01")


def test_images_need_no_sdk(tmp_path):
    """render/plan read the image table without boto3: the package loads its backend lazily."""
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from labctl.backends.modules import AwsModule\n"
        "m = AwsModule(); m.configure_without_sdk()\n"
        "print(m.module_inputs(None)['prebuilt_image_repositories'])\n"
        "import labctl.backends.aws as aws\n"
        "try:\n    aws.AwsBackend\nexcept ImportError:\n    print('no backend without boto3')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    ).stdout
    assert "sagemaker-xgboost" in out and "no backend without boto3" in out
